"""`audit chain` on Fabric: every block fetched through qscc, hash-linked and data-hashed."""

from __future__ import annotations

import pytest
from fabric_protos.common import ledger_pb2

from network import protoutil as pu
from network.audit import verify_chain
from network.errors import LedgerIntegrityError


class _Qscc:
    """qscc's GetChainInfo and GetBlockByNumber over a list of blocks, as a peer answers."""

    def __init__(self, blocks: list) -> None:
        self.blocks = blocks

    def evaluate_transaction(self, function: str, *args: str) -> bytes:
        if function == "GetChainInfo":
            head = self.blocks[-1].header
            return ledger_pb2.BlockchainInfo(
                height=len(self.blocks),
                currentBlockHash=pu.block_header_hash(head),
                previousBlockHash=head.previous_hash,
            ).SerializeToString()
        assert function == "GetBlockByNumber"
        return self.blocks[int(args[1])].SerializeToString()


class _Network:
    name = "alliance"

    def __init__(self, blocks: list) -> None:
        self.qscc = _Qscc(blocks)

    def get_contract(self, name: str) -> _Qscc:
        assert name == "qscc"
        return self.qscc


def _chain(n: int = 4) -> list:
    blocks, prev = [], b""
    for number in range(n):
        block = pu.new_block(number, prev, [f"tx{number}".encode() * 10], [0])
        prev = pu.block_header_hash(block.header)
        blocks.append(block)
    return blocks


def test_an_intact_chain_verifies() -> None:
    assert verify_chain(_Network(_chain())).height == 4  # type: ignore[arg-type]


def test_altered_transaction_bytes_are_named() -> None:
    blocks = _chain()
    blocks[2].data.data[0] = b"forged" + blocks[2].data.data[0][6:]
    with pytest.raises(LedgerIntegrityError, match="block 2: data hash"):
        verify_chain(_Network(blocks))  # type: ignore[arg-type]


def test_a_broken_link_is_named() -> None:
    blocks = _chain()
    blocks[3].header.previous_hash = b"\x00" * 32
    with pytest.raises(LedgerIntegrityError, match="block 3: previous hash"):
        verify_chain(_Network(blocks))  # type: ignore[arg-type]
