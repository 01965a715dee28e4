"""Read-your-writes across orgs on Fabric: the NET's commit high-water mark and the wait on it."""

from __future__ import annotations

from pathlib import Path

import pytest
from fabric_protos.common import ledger_pb2

from network.catch_up import committed_height, note_commit, wait_for_height
from network.errors import NetworkError


class _Qscc:
    def __init__(self, heights: list[int]) -> None:
        self.heights = heights

    def evaluate_transaction(self, name: str, *args: str) -> bytes:
        assert name == "GetChainInfo"
        height = self.heights.pop(0) if len(self.heights) > 1 else self.heights[0]
        return ledger_pb2.BlockchainInfo(height=height).SerializeToString()


class _Network:
    name = "alliance"

    def __init__(self, heights: list[int]) -> None:
        self.qscc = _Qscc(heights)

    def get_contract(self, chaincode: str) -> _Qscc:
        return self.qscc


def test_the_mark_is_one_past_the_highest_block_seen(tmp_path: Path) -> None:
    assert committed_height(tmp_path) == 0
    note_commit(tmp_path, 7)
    note_commit(tmp_path, 3)
    assert committed_height(tmp_path) == 8


def test_waits_until_the_peer_has_the_block(tmp_path: Path) -> None:
    network = _Network([5, 6, 7, 8])
    assert wait_for_height(network, 8, timeout=5) == 8  # type: ignore[arg-type]


def test_a_peer_that_stays_behind_is_named_with_both_heights() -> None:
    with pytest.raises(NetworkError, match="has 5 blocks, 3 fewer"):
        wait_for_height(_Network([5]), 8, timeout=0.2)  # type: ignore[arg-type]
