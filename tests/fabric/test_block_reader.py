"""network.deliver.BlockReader reads a real Fabric peer's chain by the same code path as devnet's:
blocks link by header hash, and a committed transaction shows with its validation code."""

from __future__ import annotations

import itertools

from conftest import Fabric, dataset_spec

from network.deliver import BlockReader, block_transactions
from network.protoutil import block_header_hash


def test_block_reader_reads_fabrics_chain(fabric: Fabric) -> None:
    with fabric.gateway("bank") as gw:
        tx = fabric.contract(gw).new_proposal("RegisterDataset", [dataset_spec("reader")]).endorse()
        status = tx.submit().require_success()
        reader = BlockReader(gw, fabric.network.channel)
        blocks = list(reader.blocks("oldest", status.block_number, wait=False))
        filtered = list(reader.filtered_blocks(status.block_number, status.block_number))
    assert [b.header.number for b in blocks] == list(range(status.block_number + 1))
    for previous, block in itertools.pairwise(blocks):
        assert block.header.previous_hash == block_header_hash(previous.header)
    found = [t for t in block_transactions(blocks[-1]) if t.tx_id == tx.tx_id]
    assert [t.code_name for t in found] == ["VALID"]
    assert any(t.txid == tx.tx_id for t in filtered[0].filtered_transactions)
