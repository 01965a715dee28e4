"""Sealed halves between the two servers: they open only for their server, lookup and epoch."""

from __future__ import annotations

import pytest

from node.query import relay
from node.query.errors import ProtocolError

KEY = relay.new_pair_key()
LOOKUP = relay.new_lookup_id()


def test_a_sealed_half_opens_for_its_server_lookup_and_epoch() -> None:
    sealed = relay.seal(KEY, "bank", LOOKUP, 7, b"half of y")
    assert relay.open_half(KEY, "bank", LOOKUP, 7, sealed) == b"half of y"
    assert len(sealed) == len(b"half of y") + relay.OVERHEAD


@pytest.mark.parametrize(("key", "server", "lookup", "epoch"), [
    (relay.new_pair_key(), "bank", LOOKUP, 7), (KEY, "telecom", LOOKUP, 7),
    (KEY, "bank", relay.new_lookup_id(), 7), (KEY, "bank", LOOKUP, 8)],
    ids=["another_key", "another_server", "another_lookup", "another_epoch"])
def test_a_half_does_not_open_in_another_context(key: bytes, server: str, lookup: bytes,
                                                 epoch: int) -> None:
    sealed = relay.seal(KEY, "bank", LOOKUP, 7, b"half of y")
    with pytest.raises(ProtocolError, match="does not open"):
        relay.open_half(key, server, lookup, epoch, sealed)


def test_an_altered_half_does_not_open() -> None:
    sealed = bytearray(relay.seal(KEY, "bank", LOOKUP, 7, b"half of y"))
    sealed[-1] ^= 1
    with pytest.raises(ProtocolError, match="does not open"):
        relay.open_half(KEY, "bank", LOOKUP, 7, bytes(sealed))


def test_a_truncated_half_is_refused() -> None:
    with pytest.raises(ProtocolError, match="too short"):
        relay.open_half(KEY, "bank", LOOKUP, 7, b"short")


def test_every_seal_is_fresh() -> None:
    assert relay.seal(KEY, "bank", LOOKUP, 7, b"x") != relay.seal(KEY, "bank", LOOKUP, 7, b"x")
