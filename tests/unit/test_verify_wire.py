"""The offline verifier's hand-written protobuf reader against the protobuf library (the oracle):
the same block fields, the same header hash, and a clear error on damaged bytes."""

from __future__ import annotations

import pytest

from alliance.verify.fabric import parse_block
from alliance.verify.wire import WireError, fields
from network.protoutil import block_header_hash, new_block


def test_a_block_reads_as_the_protobuf_library_reads_it() -> None:
    envelopes = [b"\x0a\x03abc", b"", b"\x12\x01z" * 50]
    block = new_block(300, b"\x07" * 32, envelopes, [0, 11, 0])
    parsed = parse_block(block.SerializeToString())
    assert parsed.header.number == 300
    assert parsed.header.previous_hash == block.header.previous_hash
    assert parsed.data == envelopes
    assert parsed.codes() == bytes([0, 11, 0])
    assert parsed.header.hash() == block_header_hash(block.header)
    assert parsed.data_hash() == block.header.data_hash


@pytest.mark.parametrize("number", [0, 1, 127, 128, 255, 256, 65535, 2**40])
def test_header_hash_matches_fabrics_der_at_every_length(number: int) -> None:
    block = new_block(number, b"", [], [])
    assert parse_block(block.SerializeToString()).header.hash() == block_header_hash(block.header)


@pytest.mark.parametrize(
    "data", [b"\x0a\x05ab", b"\x08", b"\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", b"\x0b"]
)
def test_damaged_bytes_are_a_wire_error(data: bytes) -> None:
    with pytest.raises(WireError):
        fields(data)
