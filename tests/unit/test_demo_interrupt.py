"""An interrupted demo stops at the next step boundary even when the KeyboardInterrupt its
signal handler raised was swallowed (one raised inside a finalizer is only printed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from alliance.cli.demo.flow import DemoFlow


class _Steps(DemoFlow):
    def __init__(self, net_dir: Path) -> None:
        super().__init__(net_dir, b"unused")
        self.ran: list[str] = []
        self.stopped = False

    def actions(self):  # type: ignore[no-untyped-def]
        def first() -> None:
            self.ran.append("first")
            self.interrupted = True  # as the handler does; its KeyboardInterrupt was lost

        return (first, lambda: self.ran.append("second"))

    def stop(self) -> list[str]:
        self.stopped = True
        return []


def test_a_flag_set_by_the_handler_stops_the_flow_before_the_next_step(tmp_path: Path) -> None:
    flow = _Steps(tmp_path / "net")
    with pytest.raises(KeyboardInterrupt):
        flow.run()
    assert flow.ran == ["first"]
    assert flow.stopped


def test_an_uninterrupted_flow_runs_every_step(tmp_path: Path) -> None:
    flow = _Steps(tmp_path / "net")
    flow.actions = lambda: (lambda: flow.ran.append("only"),)  # type: ignore[method-assign]
    assert flow.run() is True
    assert flow.ran == ["only"] and flow.stopped
