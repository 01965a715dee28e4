"""Malformed frame headers from a peer are refused with TransportError before anything is
allocated; none crashes the receiver."""

from __future__ import annotations

import json
import struct
from typing import Any

import pytest

from node.errors import TransportError
from node.mpc.framing import MAX_MESSAGE_BYTES, Framer


def _receiver() -> Framer:
    return Framer("job", 1, "b")


def _frame(body: bytes = b"", **fields: Any) -> bytes:
    header: dict[str, Any] = {"job": "job", "run": 1, "from": "a", "to": "b", "step": "s",
                              "tag": "t", "seq": 0, "kind": "bytes", "nbytes": len(body),
                              "chunk": 0, "chunks": 1}
    header.update(fields)
    head = json.dumps(header).encode()
    return struct.pack(">I", len(head)) + head + body


def test_a_well_formed_frame_passes() -> None:
    message = _receiver().accept(_frame(b"hello"))
    assert message is not None and message.payload == b"hello"


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"nbytes": -1}, "declares -1 bytes"),
        ({"nbytes": MAX_MESSAGE_BYTES + 1}, "declares"),
        ({"nbytes": 1 << 62}, "declares"),
        ({"chunks": 0}, "chunks"),
        ({"chunks": -3}, "chunks"),
        ({"nbytes": 4, "chunks": 5}, "chunks"),
        ({"nbytes": 4, "chunks": 2, "chunk": 2}, "out of range"),
        ({"nbytes": 4, "chunks": 2, "chunk": -1}, "out of range"),
        ({"seq": -1}, "negative sequence"),
        ({"kind": "array", "dtype": "<i8", "shape": [-1], "nbytes": 8}, "shape"),
        ({"kind": "array", "dtype": "<i8", "shape": [-2, -4], "nbytes": 64}, "shape"),
        ({"kind": "array", "dtype": "<i8", "shape": [3], "nbytes": 8}, "needs 24"),
        ({"kind": "array", "dtype": "<i8", "shape": [1 << 40, 1 << 40], "nbytes": 8}, "needs"),
        ({"kind": "array", "dtype": "<i8", "shape": [1] * 100, "nbytes": 8}, "shape"),
        ({"kind": "array", "dtype": "no-such-type", "shape": [1], "nbytes": 8}, "dtype"),
        ({"kind": "array", "dtype": "|O", "shape": [1], "nbytes": 8}, "object arrays"),
        ({"nbytes": "many"}, "malformed frame header"),
        ({"shape": "xyz", "kind": "array", "dtype": "<i8"}, "malformed frame header"),
    ],
)
def test_a_malformed_header_is_refused(fields: dict[str, Any], match: str) -> None:
    with pytest.raises(TransportError, match=match):
        _receiver().accept(_frame(**fields))


def test_a_header_that_is_not_an_object_is_refused() -> None:
    head = b"[1, 2, 3]"
    with pytest.raises(TransportError, match="malformed frame header"):
        _receiver().accept(struct.pack(">I", len(head)) + head)


def test_a_deeply_nested_header_is_refused() -> None:
    head = b"[" * 60_000 + b"]" * 60_000
    head = head[: 64 * 1024 - 1]
    with pytest.raises(TransportError):
        _receiver().accept(struct.pack(">I", len(head)) + head)


def test_a_later_chunk_cannot_change_the_message_size() -> None:
    receiver = _receiver()
    assert receiver.accept(_frame(b"ab", nbytes=4, chunks=2)) is None
    with pytest.raises(TransportError, match="differs from the message's first"):
        receiver.accept(_frame(b"c" * 100, nbytes=200, chunks=2, chunk=1))


def test_a_chunk_larger_than_the_declared_size_is_refused() -> None:
    with pytest.raises(TransportError, match="overflows"):
        _receiver().accept(_frame(b"x" * 10, nbytes=4))


def test_a_sender_refuses_a_message_over_the_limit() -> None:
    class Huge:  # a buffer-like length without allocating 4 GiB
        def __len__(self) -> int:
            return MAX_MESSAGE_BYTES + 1

    sender = Framer("job", 1, "a")
    from node.mpc.framing import FrameHeader

    header = FrameHeader("job", 1, "a", "b", "s", "t", 0, "bytes")
    with pytest.raises(TransportError, match="exceeds"):
        sender._frames(header, Huge())  # type: ignore[arg-type]
