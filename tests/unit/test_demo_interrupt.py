"""An interrupted demo stops at the next step boundary even when the KeyboardInterrupt its
signal handler raised was swallowed (one raised inside a finalizer is only printed), and an
interrupt while it stops what it started does not cut that short."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from alliance.cli.demo.flow import DemoFlow
from alliance.cli.demo_cmd import interrupter


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


class _Teardown(DemoFlow):
    """A flow whose teardown is interrupted (by the demo's own handler) halfway."""

    def __init__(self, net_dir: Path) -> None:
        super().__init__(net_dir, b"unused")
        self.stopped: list[str] = []

    def actions(self):  # type: ignore[no-untyped-def]
        return (lambda: None,)

    def stop(self) -> list[str]:
        self.stopped.append("query servers")
        interrupter(self)(signal.SIGINT, None)  # Ctrl-C pressed while stopping
        self.stopped.append("nodes and ledger")
        return self.stopped


def test_the_handler_stops_a_running_flow_at_once(tmp_path: Path) -> None:
    flow = _Teardown(tmp_path / "net")
    with pytest.raises(KeyboardInterrupt):
        interrupter(flow)(signal.SIGINT, None)
    assert flow.interrupted


def test_an_interrupt_during_the_teardown_lets_it_finish_then_ends_the_demo(
        tmp_path: Path) -> None:
    flow = _Teardown(tmp_path / "net")
    with pytest.raises(KeyboardInterrupt):
        flow.run()
    assert flow.stopped == ["query servers", "nodes and ledger"]


def test_a_kept_network_names_the_commands_to_go_on_only_when_its_keys_open(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from alliance.cli.demo_cmd import next_steps
    from alliance.keystore import PASSPHRASE_ENV

    flow = _Steps(tmp_path / "net")
    monkeypatch.setenv(PASSPHRASE_ENV, "set")
    assert next_steps(flow, kept=False) == []
    assert next_steps(flow, kept=True)[0] == f"alliance network up --dir {flow.net_dir}"
    monkeypatch.delenv(PASSPHRASE_ENV)
    (note,) = next_steps(flow, kept=True)
    assert "random passphrase" in note and PASSPHRASE_ENV in note
