"""Framing: chunking, reassembly into preallocated arrays, control frames, transcripts."""

from __future__ import annotations

import numpy as np
import pytest

from node.errors import TransportError
from node.mpc.framing import KIND_ABORT, Framer


def pair(chunk_bytes: int = 1000) -> tuple[Framer, Framer]:
    return Framer("job", 1, "a", chunk_bytes), Framer("job", 1, "b", chunk_bytes)


def test_a_large_array_is_chunked_and_reassembled() -> None:
    sender, receiver = pair()
    array = np.arange(10_001, dtype=np.uint64).reshape(73, 137)
    frames = list(sender.array_frames("b", "open", "share", array))
    assert len(frames) == -(-array.nbytes // 1000)
    results = [receiver.accept(frame) for frame in frames]
    assert all(r is None for r in results[:-1])
    message = results[-1]
    assert message is not None
    assert np.array_equal(message.payload, array)
    assert message.header.step == "open" and message.header.tag == "share"


def test_bytes_and_empty_payloads_travel() -> None:
    sender, receiver = pair()
    for payload in (b"", b"x" * 2500):
        (*_, last) = [receiver.accept(f) for f in sender.bytes_frames("b", "s", "t", payload)]
        assert last is not None and last.payload == payload
    (frame,) = list(sender.array_frames("b", "s", "t", np.zeros(0, dtype=np.int32)))
    message = receiver.accept(frame)
    assert message is not None and message.payload.shape == (0,)


def test_big_endian_arrays_arrive_little_endian_with_equal_values() -> None:
    sender, receiver = pair()
    array = np.arange(10, dtype=">i8")
    (*_, message) = [receiver.accept(f) for f in sender.array_frames("b", "s", "t", array)]
    assert message is not None
    assert message.payload.dtype.str == "<i8" and message.payload.tolist() == array.tolist()


def test_transcripts_of_sender_and_receiver_agree() -> None:
    sender, receiver = pair()
    for frame in sender.array_frames("b", "s", "t", np.arange(5000, dtype=np.float64)):
        message = receiver.accept(frame)
    assert message is not None
    receiver.record_received(message)
    assert sender.transcript_digest == receiver.transcript_digest
    assert sender.transcript_digest.startswith("sha256:")


def test_transcript_follows_the_order_of_sends_not_of_completion() -> None:
    a1, _ = pair()
    a2, _ = pair()
    first = a1.bytes_frames("b", "s", "1", b"one")
    second = a1.bytes_frames("b", "s", "2", b"two")
    list(second)
    list(first)
    list(a2.bytes_frames("b", "s", "1", b"one"))
    list(a2.bytes_frames("b", "s", "2", b"two"))
    assert a1.transcript_digest == a2.transcript_digest


def test_abort_frames_carry_reason_and_origin() -> None:
    sender, receiver = pair()
    message = receiver.accept(sender.control_frame("b", KIND_ABORT, "bad input", "c"))
    assert message is not None
    assert message.header.kind == KIND_ABORT
    assert (message.header.reason, message.header.tag) == ("bad input", "c")


def test_a_frame_for_another_party_is_refused() -> None:
    sender, _ = pair()
    stranger = Framer("job", 1, "c")
    (frame,) = list(sender.bytes_frames("b", "s", "t", b"secret"))
    with pytest.raises(TransportError, match="misrouting"):
        stranger.accept(frame)


def test_garbage_is_refused() -> None:
    _, receiver = pair()
    with pytest.raises(TransportError):
        receiver.accept(b"\x00\x00\x00\x05{{{{{")
    with pytest.raises(TransportError):
        receiver.accept(b"\xff\xff\xff\xff")


def test_a_missing_chunk_is_detected() -> None:
    sender, receiver = pair()
    frames = list(sender.bytes_frames("b", "s", "t", b"y" * 3000))
    receiver.accept(frames[0])
    with pytest.raises(TransportError, match="expected 1"):
        receiver.accept(frames[2])
