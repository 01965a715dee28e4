"""Parts of the query server that need no network: where an epoch's work runs."""

from __future__ import annotations

import os
import sys
import threading

import pytest

from node.query.server import EPOCH_NICE, _at_low_priority


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice is Linux's")
def test_epoch_work_runs_on_a_thread_of_the_lowest_priority_not_the_callers() -> None:
    def nice() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    mine = nice()
    assert _at_low_priority(nice) == max(mine, EPOCH_NICE)
    assert nice() == mine


def test_epoch_work_gives_back_its_result_or_its_error() -> None:
    assert _at_low_priority(lambda: 42) == 42
    with pytest.raises(KeyError, match="bank"):
        _at_low_priority(lambda: {}["bank"])
