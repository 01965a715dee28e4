"""Snapshots of every TUI screen at 80x24 and 120x40 on a seeded ledger (tui_seed): a layout
regression shows as a diff. Update deliberately with `pytest --snapshot-update`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC

import pytest
from textual.pilot import Pilot
from textual.widgets import Select, SelectionList
from tui_seed import DATASETS, JOBS, NOW, SeededSession

from tui import format as tui_format
from tui.app import AllianceApp
from tui.screens.wizard import WizardScreen

SIZES = [(80, 24), (120, 40)]


@pytest.fixture(autouse=True)
def pinned_clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Same "now", zone and colours on every machine (the caller's NO_COLOR does not leak in)."""
    monkeypatch.delenv("NO_COLOR", raising=False)
    tui_format.set_clock(lambda: NOW, UTC)
    yield
    tui_format.set_clock(__import__("time").time)


def seeded(org: str = "bank") -> AllianceApp:
    return AllianceApp(SeededSession(org), watch_events=False)


async def settle(pilot: Pilot) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def going(action: Callable[[AllianceApp], object]) -> Callable[[Pilot], Awaitable[None]]:
    async def run_before(pilot: Pilot) -> None:
        await settle(pilot)
        action(pilot.app)  # type: ignore[arg-type]
        await settle(pilot)

    return run_before


SCREENS: dict[str, tuple[str, Callable[[AllianceApp], object]]] = {
    "overview": ("bank", lambda app: None),
    "jobs": ("bank", lambda app: app.switch_mode("jobs")),
    "job_inbox_detail": ("bank", lambda app: app.open_job(JOBS[0].id)),
    "job_completed_recipient": ("telecom", lambda app: app.open_job(JOBS[1].id)),
    "job_failed": ("bank", lambda app: app.open_job(JOBS[2].id)),
    "datasets": ("bank", lambda app: app.switch_mode("datasets")),
    "dataset_detail": ("bank", lambda app: (app.switch_mode("datasets"),
                                            app.push_screen_dataset(DATASETS[0].id))),
    "members": ("bank", lambda app: app.switch_mode("members")),
    "audit": ("regulator", lambda app: app.open_trail("job", JOBS[1].id)),
    "identity": ("bank", lambda app: app.switch_mode("identity")),
    "auditor_jobs": ("regulator", lambda app: app.switch_mode("jobs")),
}


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("name", list(SCREENS))
def test_screen(snap_compare, name: str, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    org, action = SCREENS[name]
    assert snap_compare(seeded(org), terminal_size=size, run_before=going(action))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_wizard_review(snap_compare, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    async def run_before(pilot: Pilot) -> None:
        await settle(pilot)
        await pilot.press("w")
        await settle(pilot)
        wizard = pilot.app.screen
        assert isinstance(wizard, WizardScreen)
        wizard.query_one("#protocol-select", Select).value = "stats"
        await settle(pilot)
        await pilot.press("ctrl+n")
        picks = wizard.query_one("#input-list", SelectionList)
        picks.select("bank/customers:exposure")
        picks.select("telecom/subscribers:balance")
        await pilot.press("ctrl+n")
        wizard.query_one("#param-op").value = "sum"  # type: ignore[attr-defined]
        await pilot.press("ctrl+n")
        wizard.query_one("#out-result").value = "telecom"  # type: ignore[attr-defined]
        await pilot.press("ctrl+n", "ctrl+n")
        await settle(pilot)

    assert snap_compare(seeded("telecom"), terminal_size=size, run_before=run_before)


def test_overview_without_colour(snap_compare, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("NO_COLOR", "1")
    assert snap_compare(seeded("bank"), terminal_size=(80, 24), run_before=going(lambda a: None))
