"""The PSI phase trace: each phase's wall and CPU time and the largest RSS seen while it ran."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from node.mpc.psi.trace import Phases, current_rss


def test_each_phase_reports_the_memory_it_held(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    trace = tmp_path / "trace.txt"
    monkeypatch.setenv("ALLIANCE_PSI_TRACE", str(trace))
    phases = Phases("test party")
    held = np.ones(1 << 27, dtype=np.uint8)  # 134 MB, touched: resident
    phases.mark("big")
    del held
    phases.mark("small")
    phases.report()
    line = trace.read_text()
    assert line.startswith("psi test party (wall/cpu s/peak RSS MB): big ")
    figures = dict(item.rsplit(" ", 1) for item in line.split(": ", 1)[1].split(";")[0]
                   .split(", "))
    big_mb = float(figures["big"].split("/")[2])
    assert big_mb * 1e6 >= (1 << 27)
    assert current_rss() > 0


def test_without_the_variable_nothing_is_sampled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ALLIANCE_PSI_TRACE", raising=False)
    phases = Phases("quiet")
    phases.mark("a")
    assert not phases.sampled and phases.marks[0][3] == 0
