"""Devnet's Deliver service, read through network.deliver.BlockReader (Fabric's seek semantics)."""

from __future__ import annotations

import itertools
import threading

import pytest
from fabric_protos.common import common_pb2

from network.deliver import BlockReader, block_transactions
from network.errors import DeliverError
from network.protoutil import block_header_hash


def test_blocks_from_oldest_to_newest_form_a_hash_chain(devnet) -> None:
    with devnet.gateway() as gw:
        tx = devnet.contract(gw).new_proposal("Put", ["a", "1"]).endorse()
        tx.submit().require_success()
        blocks = list(BlockReader(gw, "alliance").blocks("oldest", "newest", wait=False))
    assert [b.header.number for b in blocks] == list(range(len(blocks)))
    for previous, block in itertools.pairwise(blocks):
        assert block.header.previous_hash == block_header_hash(previous.header)
    found = [t for b in blocks for t in block_transactions(b) if t.tx_id == tx.tx_id]
    assert [t.code_name for t in found] == ["VALID"]


def test_filtered_blocks_carry_tx_ids_codes_and_event_names_only(devnet) -> None:
    with devnet.gateway() as gw:
        tx = devnet.contract(gw).new_proposal("Put", ["b", "2"]).endorse()
        status = tx.submit().status()
        reader = BlockReader(gw, "alliance")
        [block] = reader.filtered_blocks(status.block_number, status.block_number, wait=False)
    [ftx] = [t for t in block.filtered_transactions if t.txid == tx.tx_id]
    assert block.channel_id == "alliance"
    assert ftx.tx_validation_code == 0
    assert ftx.type == common_pb2.HeaderType.ENDORSER_TRANSACTION


def test_a_block_not_yet_committed_is_not_found_when_not_waiting(devnet) -> None:
    with devnet.gateway() as gw:
        reader = BlockReader(gw, "alliance")
        height = reader.height()
        with pytest.raises(DeliverError) as info:
            reader.block(height + 1)
    assert info.value.status_name == "NOT_FOUND"


def test_a_start_after_the_stop_is_a_bad_request(devnet) -> None:
    with devnet.gateway() as gw, pytest.raises(DeliverError) as info:
        list(BlockReader(gw, "alliance").blocks(1, 0, wait=False))
    assert info.value.status_name == "BAD_REQUEST"


def test_next_commit_waits_for_the_next_block(devnet) -> None:
    with devnet.gateway() as gw:
        reader = BlockReader(gw, "alliance")
        got: list[common_pb2.Block] = []
        stream = reader.blocks("next", timeout=60)
        listener = threading.Thread(target=lambda: got.append(next(iter(stream))))
        listener.start()
        tx = devnet.contract(gw).new_proposal("Put", ["c", "3"]).endorse()
        tx.submit().require_success()
        listener.join(60)
    assert got, "no block arrived"
    assert any(t.tx_id == tx.tx_id for t in block_transactions(got[0]))
