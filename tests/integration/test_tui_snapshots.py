"""Snapshots of every TUI screen at 80x24 and 120x40 on a seeded ledger: a real devnet alliance
whose records are the same on every run (tui_ledger), read through the real session, gateway
and contract. A layout regression shows as a diff; update deliberately with
`pytest --snapshot-update`."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Select, SelectionList
from tui_ledger import NOW, PASSPHRASE, seeded_alliance

from tui import format as tui_format
from tui.app import AllianceApp
from tui.backend import Session
from tui.screens.wizard import WizardScreen
from tui.widgets.filter_table import MeasuredTable

pytestmark = pytest.mark.slow

SIZES = [(80, 24), (120, 40)]
NET = Path("net")
"""The seeded NET, relative to the working directory (paths on screen are shown so)."""


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The seeded alliance (ids of its records), in a working directory of its own."""
    home = tmp_path_factory.mktemp("tui-snapshots")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(home)
        with seeded_alliance(home / NET) as ids:
            yield ids


@pytest.fixture(autouse=True)
def pinned_clock(ledger: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Same "now", zone and colours on every machine (the caller's NO_COLOR does not leak in)."""
    monkeypatch.delenv("NO_COLOR", raising=False)
    tui_format.set_clock(lambda: NOW, UTC)
    yield
    tui_format.set_clock(time.time)


def app_of(org: str = "bank") -> AllianceApp:
    return AllianceApp(Session(NET, org, "admin", PASSPHRASE), watch_events=False)


def _tables_pending(app: AllianceApp) -> bool:
    """A table still to measure its new rows or changed cells (DataTable does it when idle)."""
    return any(t.layout_pending for t in app.screen.query(MeasuredTable))


async def settle(pilot: Pilot) -> None:
    """Until no worker runs and no table has layout pending, across three refreshes (a shown
    screen may start another look; a table sizes its columns only when its queue is idle)."""
    quiet = 0
    while quiet < 3:
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        busy = any(w.is_running for w in pilot.app.workers) or _tables_pending(pilot.app)
        quiet = 0 if busy else quiet + 1


def going(action: Callable[[AllianceApp], object]) -> Callable[[Pilot], Awaitable[None]]:
    async def run_before(pilot: Pilot) -> None:
        await settle(pilot)
        action(pilot.app)  # type: ignore[arg-type]
        await settle(pilot)

    return run_before


SCREENS: dict[str, tuple[str, Callable[[AllianceApp, dict[str, str]], object]]] = {
    "overview": ("bank", lambda app, ids: None),
    "jobs": ("bank", lambda app, ids: app.switch_mode("jobs")),
    "job_inbox_detail": ("bank", lambda app, ids: app.open_job(ids["requested"])),
    "job_completed_recipient": ("telecom", lambda app, ids: app.open_job(ids["completed"])),
    "job_failed": ("bank", lambda app, ids: app.open_job(ids["failed"])),
    "datasets": ("bank", lambda app, ids: app.switch_mode("datasets")),
    "dataset_detail": ("bank", lambda app, ids: (app.switch_mode("datasets"),
                                                 app.push_screen_dataset("bank/customers"))),
    "members": ("bank", lambda app, ids: app.switch_mode("members")),
    "audit": ("regulator", lambda app, ids: app.open_trail("job", ids["completed"])),
    "identity": ("bank", lambda app, ids: app.switch_mode("identity")),
    "auditor_jobs": ("regulator", lambda app, ids: app.switch_mode("jobs")),
    "query_no_service": ("bank", lambda app, ids: app.switch_mode("query")),
}


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("name", list(SCREENS))
def test_screen(snap_compare, ledger: dict[str, str], name: str, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    org, action = SCREENS[name]
    assert snap_compare(app_of(org), terminal_size=size,
                        run_before=going(lambda app: action(app, ledger)))


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
        wizard.query_one("#out-result", SelectionList).select("telecom")
        await pilot.press("ctrl+n", "ctrl+n")
        await settle(pilot)

    assert snap_compare(app_of("telecom"), terminal_size=size, run_before=run_before)


def test_overview_without_colour(snap_compare, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("NO_COLOR", "1")
    assert snap_compare(app_of("bank"), terminal_size=(80, 24), run_before=going(lambda a: None))


async def test_an_identity_expiring_within_30_days_is_flagged_on_the_overview_and_identity(
    ledger: dict[str, str],
) -> None:
    from textual.widgets import Static

    from tui.widgets.filter_table import FilterTable

    app = app_of("bank")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        badge = app.screen.query_one("#keys-badge", Static)
        assert badge.display and "client" in str(badge.content)
        app.switch_mode("identity")
        await settle(pilot)
        table = app.screen.query_one("#certs", FilterTable).table
        status = {str(table.get_row(k)[0]): str(table.get_row(k)[2]) for k in table.rows}
    assert status["client"] == "expiring in 20 days"
    assert {s for who, s in status.items() if who != "client"} == {"active"}
