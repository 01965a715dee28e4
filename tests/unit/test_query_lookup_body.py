"""A lookup's first-round body: made by the asker, parsed by the server, one format."""

from __future__ import annotations

import os

import numpy as np
import pytest

from node.query import dpf, lookup_body, masks, relay
from node.query.errors import ProtocolError
from node.query.layout import Layout
from node.query.record import LANES

LAYOUT = Layout.of_blocks(2, ("bank", "platform", "telecom"))
PARTS = LAYOUT.subtables // LAYOUT.segments


def _bodies(count: int) -> tuple[list[bytes], list[bytes], np.ndarray]:
    """`count` lookups' bodies for server A and for server B, and their rho."""
    keys = dpf.generate_packed(list(range(count * PARTS)), LAYOUT.part_bits)
    size = len(keys[0]) // count
    rho = np.frombuffer(os.urandom(count * LAYOUT.subtables * 16), dtype=np.uint64
                        ).reshape(count, -1, LANES)
    point, lookup_id = b"p" * masks.POINT_BYTES, b"i" * relay.LOOKUP_ID_BYTES
    made = [[lookup_body.make(keys[side][i * size:(i + 1) * size], point, lookup_id, rho[i])
             for i in range(count)] for side in (0, 1)]
    return made[0], made[1], rho


def test_a_body_parses_back_to_what_it_was_made_of() -> None:
    for_a, _, rho = _bodies(1)
    assert len(for_a[0]) == lookup_body.size(LAYOUT)
    body = lookup_body.parse(for_a[0], LAYOUT, 0, "bank")
    assert len(body.keys) == PARTS and not body.keys.party.any()
    assert body.point == b"p" * masks.POINT_BYTES and body.lookup_id == b"i" * 16
    assert np.array_equal(body.rho, rho[0])


def test_a_body_of_the_wrong_size_is_refused_saying_what_a_body_holds() -> None:
    for_a, _, _ = _bodies(1)
    with pytest.raises(ProtocolError, match=rf"{PARTS} DPF keys .* got {len(for_a[0]) - 1} "):
        lookup_body.parse(for_a[0][:-1], LAYOUT, 0, "bank")


def test_a_body_with_the_other_servers_keys_is_refused() -> None:
    _, for_b, _ = _bodies(1)
    with pytest.raises(ProtocolError, match="for the other server was sent to bank"):
        lookup_body.parse(for_b[0], LAYOUT, 0, "bank")


def test_a_batch_parses_each_body_as_alone_and_refuses_a_bad_one_alone() -> None:
    for_a, for_b, rho = _bodies(3)
    batch = [for_a[0], for_b[1], for_a[2]]
    got = lookup_body.parse_batch(batch, LAYOUT, 0, "bank")  # each body alone, then
    together = lookup_body.parse_batch(for_a, LAYOUT, 0, "bank")  # every key in one go
    assert isinstance(got[1], ProtocolError) and "other server" in str(got[1])
    for i in (0, 2):
        alone = lookup_body.parse(for_a[i], LAYOUT, 0, "bank")
        for body in (got[i], together[i]):
            assert isinstance(body, lookup_body.Body)
            assert np.array_equal(body.keys.seeds, alone.keys.seeds)
            assert np.array_equal(body.rho, rho[i])
