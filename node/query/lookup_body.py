"""A lookup's first-round body to one server, made by the asker and parsed by the server.

    body = one DPF key per part of a segment | the blinded mask-block point | the lookup's id
           | the server's masks rho_s of the slots read (RECORD_BYTES per slot)

Every piece is of a fixed size for a layout (`size`), and pseudorandom: nothing in it shows the
applicant. A batch's DPF keys are parsed in one go (`parse_batch`). Pure.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from node.query import dpf, masks, relay
from node.query.errors import ProtocolError
from node.query.layout import Layout
from node.query.record import LANES, RECORD_BYTES


@dataclass(frozen=True)
class Body:
    """A first-round body parsed: its DPF keys, blinded point, lookup id and rho_s."""

    keys: dpf.KeyBatch
    point: bytes
    lookup_id: bytes
    rho: np.ndarray


def _parts(layout: Layout) -> int:
    """DPF keys per lookup: one per part of a segment (each applies to that part of every
    segment)."""
    return layout.subtables // layout.segments


def size(layout: Layout) -> int:
    return (_parts(layout) * dpf.key_size(layout.part_bits) + masks.POINT_BYTES
            + relay.LOOKUP_ID_BYTES + layout.subtables * RECORD_BYTES)


def make(keys: bytes, point: bytes, lookup_id: bytes, rho: np.ndarray) -> bytes:
    """A body from its pieces (`keys`: the lookup's packed DPF keys for this server)."""
    return keys + point + lookup_id + np.ascontiguousarray(rho, dtype=np.uint64).tobytes()


def parse(body: bytes, layout: Layout, party: int, server: str,
          keys: dpf.KeyBatch | None = None) -> Body:
    """A body of `server` (of DPF party `party`) parsed; ProtocolError saying what a body
    holds when it does not. `keys`: its DPF keys when they were parsed and checked already,
    with its batch's."""
    parts, bits = _parts(layout), layout.part_bits
    key_bytes = dpf.key_size(bits)
    expected = size(layout)
    if len(body) != expected:
        raise ProtocolError(
            f"a lookup carries {parts} DPF keys of {key_bytes} bytes, one point of "
            f"{masks.POINT_BYTES} bytes, a {relay.LOOKUP_ID_BYTES}-byte id and "
            f"{layout.subtables * RECORD_BYTES} bytes of masks ({expected} bytes), got "
            f"{len(body)} bytes")
    if keys is None:
        keys = dpf.KeyBatch.parse(body[:parts * key_bytes], bits)
        if (keys.party != party).any():
            raise ProtocolError(f"a DPF key for the other server was sent to {server}")
    at = parts * key_bytes
    point = body[at:at + masks.POINT_BYTES]
    at += masks.POINT_BYTES
    lookup_id = body[at:at + relay.LOOKUP_ID_BYTES]
    rho = np.frombuffer(body[at + relay.LOOKUP_ID_BYTES:], dtype=np.uint64).reshape(-1, LANES)
    return Body(keys, point, lookup_id, rho)


def parse_batch(bodies: list[bytes], layout: Layout, party: int, server: str
                ) -> list[Body | ProtocolError]:
    """`parse` of a batch's bodies: the DPF keys of all of them parsed in one go (a batch's
    keys are its largest part); when that fails, each body alone, so that a malformed one is
    refused, not its batch."""
    parts, bits = _parts(layout), layout.part_bits
    key_bytes, expected = parts * dpf.key_size(bits), size(layout)
    if len(bodies) > 1 and all(len(b) == expected for b in bodies):
        try:
            keys = dpf.KeyBatch.parse(b"".join(b[:key_bytes] for b in bodies), bits)
        except ProtocolError:
            keys = None
        if keys is not None and not (keys.party != party).any():
            return [parse(body, layout, party, server, keys.part(i * parts, (i + 1) * parts))
                    for i, body in enumerate(bodies)]
    out: list[Body | ProtocolError] = []
    for body in bodies:
        try:
            out.append(parse(body, layout, party, server))
        except ProtocolError as exc:
            out.append(exc)
    return out
