"""Messages of the query service: a JSON header and a binary body, and the signed lookup request.

    message = 4-byte big-endian header length | canonical JSON header | body
    batch   = 4-byte count | (4-byte length | message) per message

Lookup and Select carry a batch of lookups (a member's node sends the lookups its callers made
meanwhile as one call, coalesce.py); each answer is a message of its own, or a refusal of that
lookup alone: {"refused": code, "status": gRPC status name, "message": what to do}.

A lookup request to one server signs (ECDSA P-256, the asker's node identity) the canonical JSON
of: the server it is for (no replay at the other one), the table epoch, the asker's org and MSP
id, the purpose code, the consent document's hash, a fresh nonce, the time, and the sha256 of the
body (that server's DPF keys and blinded block points). Nothing in it depends on the applicant
but the body, which is pseudorandom. Pure.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from alliance.canonical import canonical_json
from node.query.errors import ProtocolError

SERVICE = "alliance.query.v1.Query"
MAX_HEADER = 1 << 20
CHUNK_BYTES = 4 << 20
"""The largest message of a streamed table or contribution (one part is one or more)."""
BATCH_MOST = 64
"""The most lookups one Lookup or Select call carries."""
REQUEST_VERSION = 1
FRESHNESS_SECONDS = 300


def encode(header: dict[str, Any], body: bytes = b"") -> bytes:
    """A message (headers are never signed: a lookup's signed request is canonical JSON apart,
    `LookupRequest.digest`)."""
    head = json.dumps(header, separators=(",", ":")).encode()
    return struct.pack(">I", len(head)) + head + body


def decode(message: bytes) -> tuple[dict[str, Any], bytes]:
    if len(message) < 4:
        raise ProtocolError("message shorter than its header length")
    (size,) = struct.unpack_from(">I", message)
    if size > MAX_HEADER or 4 + size > len(message):
        raise ProtocolError("message header length out of range")
    try:
        header = json.loads(message[4:4 + size])
    except ValueError as exc:
        raise ProtocolError(f"message header is not JSON: {exc}") from exc
    if not isinstance(header, dict):
        raise ProtocolError("message header is not a JSON object")
    return header, message[4 + size:]


def pack(messages: Sequence[bytes]) -> bytes:
    out = [struct.pack(">I", len(messages))]
    for message in messages:
        out.append(struct.pack(">I", len(message)))
        out.append(message)
    return b"".join(out)


def unpack(batch: bytes, most: int = BATCH_MOST) -> list[bytes]:
    """The messages of a batch; ProtocolError if it is cut, padded, empty or over `most`."""
    if len(batch) < 4:
        raise ProtocolError("a batch shorter than its count")
    (count,) = struct.unpack_from(">I", batch)
    if not 1 <= count <= most:
        raise ProtocolError(f"a batch carries 1 to {most} messages, this one {count}")
    messages, at = [], 4
    for _ in range(count):
        if at + 4 > len(batch):
            raise ProtocolError("a batch cut short")
        (size,) = struct.unpack_from(">I", batch, at)
        at += 4
        if at + size > len(batch):
            raise ProtocolError("a batch cut short")
        messages.append(batch[at:at + size])
        at += size
    if at != len(batch):
        raise ProtocolError(f"{len(batch) - at} byte(s) after a batch's last message")
    return messages


@dataclass(frozen=True)
class LookupRequest:
    """The signed part of a lookup (see module doc)."""

    server: str
    epoch: int
    asker: str
    msp_id: str
    purpose: str
    consent_hash: str
    nonce: str
    issued_at: int
    body_digest: str

    def fields(self) -> dict[str, Any]:
        return {"v": REQUEST_VERSION, "server": self.server, "epoch": self.epoch,
                "asker": self.asker, "msp_id": self.msp_id, "purpose": self.purpose,
                "consent": self.consent_hash, "nonce": self.nonce,
                "issued_at": self.issued_at, "body": self.body_digest}

    @cached_property
    def signed(self) -> bytes:
        """The bytes the asker signs (canonical JSON of `fields`), encoded once per request:
        the server verifies them and logs their digest."""
        return canonical_json(self.fields())

    def digest(self) -> bytes:
        return hashlib.sha256(self.signed).digest()

    @classmethod
    def from_fields(cls, fields: dict[str, Any]) -> LookupRequest:
        try:
            if fields["v"] != REQUEST_VERSION:
                raise ProtocolError(f"lookup request version {fields['v']} is not supported")
            return cls(str(fields["server"]), int(fields["epoch"]), str(fields["asker"]),
                       str(fields["msp_id"]), str(fields["purpose"]), str(fields["consent"]),
                       str(fields["nonce"]), int(fields["issued_at"]), str(fields["body"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ProtocolError(f"malformed lookup request: {exc}") from exc


def body_digest(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()
