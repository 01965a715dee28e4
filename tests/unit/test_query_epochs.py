"""Forming an epoch apart from the network: where its work runs, which versions it takes, the
masked table both servers then hold, and how many epochs a server keeps."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from node.query import masks, table
from node.query.epochs import EPOCH_NICE, Tables, at_low_priority, common_versions
from node.query.layout import Layout
from node.query.record import LANES
from node.query.store import ServerStore
from node.query.wire import decode


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice is Linux's")
def test_epoch_work_runs_on_a_thread_of_the_lowest_priority_not_the_callers() -> None:
    def nice() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    mine = nice()
    assert at_low_priority(nice) == max(mine, EPOCH_NICE)
    assert nice() == mine


def test_epoch_work_gives_back_its_result_or_its_error() -> None:
    assert at_low_priority(lambda: 42) == 42
    with pytest.raises(KeyError, match="bank"):
        at_low_priority(lambda: {}["bank"])


def test_an_epoch_holds_the_newest_version_both_servers_hold_of_each_member() -> None:
    mine = {"bank": [1, 2, 3], "telecom": [4], "platform": [7]}
    theirs = {"bank": [2, 3, 5], "telecom": [5], "insurer": [1]}
    assert common_versions(mine, theirs) == {"bank": 3}


def _pair(folder: Path) -> tuple[Tables, Tables, np.ndarray]:
    """Server A's and B's tables over two members' stored shares (a third contributor has sent
    nothing yet), and T (each member's contribution in its segment, zeros elsewhere)."""
    layout = Layout.of_blocks(2, ("bank", "platform", "telecom"))
    size = layout.segment_slots
    stores = [ServerStore(folder / role, size, layout.fingerprint()) for role in "ab"]
    rng = np.random.default_rng(5)
    total = np.zeros((layout.slots, LANES), dtype=np.uint64)
    for member, version in (("bank", 1), ("telecom", 2)):
        contribution = rng.integers(0, 2**63, size=(size, LANES), dtype=np.uint64)
        seed = member.encode().ljust(16, b".")
        stores[0].save_masked(member, version, contribution ^ masks.prg_share(seed, size))
        stores[1].save_seed(member, version, seed)
        start = layout.segment_of(member) * size
        total[start:start + size] = contribution
    return Tables("bank", layout, stores[0]), Tables("telecom", layout, stores[1]), total


class _Replies:
    def __init__(self, parts: Iterator[bytes]) -> None:
        self.parts = parts

    def __iter__(self) -> Iterator[bytes]:
        return self.parts

    def cancel(self) -> bool:
        return True


def _form(lead: Tables, follower: Tables, number: int) -> int:
    """One epoch formed, the follower's side answering the lead's stream in this thread."""
    def exchange(outgoing: Iterator[bytes]) -> _Replies:
        header, _ = decode(next(outgoing))
        versions = dict(header["versions"])
        answer = follower.follow(int(header["epoch"]), versions,
                                 bytes.fromhex(header["pair_key"]),
                                 follower.own_parts(versions), outgoing, time.monotonic())
        return _Replies(answer)
    return lead.lead(follower.store.versions(), follower.numbers(), number, exchange,
                     time.monotonic())


def test_both_servers_hold_the_table_masked_by_both_their_masks(tmp_path: Path) -> None:
    a, b, total = _pair(tmp_path)
    number = _form(a, b, 1000)
    held = [a.current(), b.current()]
    assert [e.number if e else None for e in held] == [number, number]
    expected = total.copy()
    rows = a.layout.part_slots
    for epoch in held:
        assert epoch is not None
        seeds = masks.block_seeds(epoch.key, masks.block_points(a.layout.part_blocks))
        for part in range(a.layout.subtables):
            expected[part * rows:(part + 1) * rows] ^= masks.part_masks(seeds, part)
    assert held[0].cols.tobytes() == held[1].cols.tobytes()  # type: ignore[union-attr]
    assert np.array_equal(held[0].cols, table.transpose(expected, a.layout))  # type: ignore[union-attr]


def test_a_server_keeps_the_newest_two_epochs(tmp_path: Path) -> None:
    a, b, _ = _pair(tmp_path)
    formed = []
    for number in (1000, 2000, 3000):
        b.store.save_seed("telecom", number, b"t" * 16)  # a new version: a new epoch forms
        a.store.save_masked("telecom", number, np.zeros((a.layout.segment_slots, LANES), np.uint64))
        formed.append(_form(a, b, number))
    assert formed == [1000, 2000, 3000]
    assert a.numbers() == b.numbers() == [2000, 3000]
