"""A batch of query messages (wire.pack / wire.unpack): what is packed comes back, and a batch
that is empty, too large, cut short or padded is a ProtocolError that says which."""

from __future__ import annotations

import struct

import pytest

from node.query.errors import ProtocolError
from node.query.wire import BATCH_MOST, encode, pack, unpack

MESSAGES = [b"", bytes(range(256)), b"\x00\x00\x00\x05", encode({"refused": "quota"}, b"\xff\x00")]


def test_a_batch_round_trips_empty_and_binary_messages() -> None:
    assert unpack(pack(MESSAGES)) == MESSAGES


def test_a_batch_of_one_empty_message_round_trips() -> None:
    assert unpack(pack([b""])) == [b""]


def test_a_batch_of_most_messages_round_trips() -> None:
    messages = [bytes([n]) * n for n in range(BATCH_MOST)]
    assert unpack(pack(messages)) == messages


def test_an_empty_batch_is_refused() -> None:
    with pytest.raises(ProtocolError, match=f"1 to {BATCH_MOST} messages, this one 0"):
        unpack(pack([]))


def test_a_batch_over_most_is_refused() -> None:
    with pytest.raises(ProtocolError, match=f"1 to {BATCH_MOST} messages, this one 65"):
        unpack(pack([b"x"] * (BATCH_MOST + 1)))


def test_most_is_the_callers_limit() -> None:
    with pytest.raises(ProtocolError, match="1 to 2 messages, this one 3"):
        unpack(pack([b"a", b"b", b"c"]), most=2)


def test_a_huge_count_is_refused_before_reading_any_message() -> None:
    with pytest.raises(ProtocolError, match="this one 4294967295"):
        unpack(struct.pack(">I", 0xFFFFFFFF))


def test_a_batch_cut_short_anywhere_is_refused() -> None:
    batch = pack(MESSAGES)
    for length in range(len(batch)):
        with pytest.raises(ProtocolError) as refused:
            unpack(batch[:length])
        expected = "a batch shorter than its count" if length < 4 else "a batch cut short"
        assert str(refused.value) == expected, f"cut to {length} bytes"


def test_bytes_after_the_last_message_are_refused() -> None:
    with pytest.raises(ProtocolError, match=r"3 byte\(s\) after a batch's last message"):
        unpack(pack([b"one", b"two"]) + b"pad")


def test_a_declared_length_past_the_end_is_refused() -> None:
    batch = struct.pack(">I", 1) + struct.pack(">I", 100) + b"short"
    with pytest.raises(ProtocolError, match="cut short"):
        unpack(batch)


def test_a_length_that_swallows_the_next_message_is_refused() -> None:
    second = struct.pack(">I", 3) + b"two"
    batch = struct.pack(">I", 2) + struct.pack(">I", 3 + len(second)) + b"one" + second
    with pytest.raises(ProtocolError, match="cut short"):
        unpack(batch)
