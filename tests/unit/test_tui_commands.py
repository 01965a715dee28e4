"""The command palette and the help screen list what the current screen can do — and, for a
read-only identity, nothing that signs (on a seeded ledger, no gateway)."""

from __future__ import annotations

from textual.pilot import Pilot
from tui_seed import JOBS, SeededSession

from tui.app import AllianceApp
from tui.commands import AllianceCommands
from tui.screens.help import HelpScreen


async def titles(app: AllianceApp) -> set[str]:
    provider = AllianceCommands(app.screen)
    return {str(hit.display) for hit in [h async for h in provider.discover()]}


async def settled(pilot: Pilot) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def test_the_palette_names_every_screen_and_the_member_actions() -> None:
    app = AllianceApp(SeededSession("bank"), watch_events=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await settled(pilot)
        app.switch_mode("members")
        await settled(pilot)
        found = await titles(app)
    assert {"Go to Jobs", "Go to Audit", "Go to Identity"} <= found
    assert {"Propose", "Vote yes", "Vote no", "New job"} <= found


async def test_the_palette_offers_an_auditor_no_action_that_signs() -> None:
    app = AllianceApp(SeededSession("regulator"), watch_events=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await settled(pilot)
        app.open_job(JOBS[0].id)
        await settled(pilot)
        found = await titles(app)
    assert "Trail" in found
    assert not ({"Approve", "Reject", "New job", "Propose"} & found)


async def test_help_lists_the_screen_keys() -> None:
    app = AllianceApp(SeededSession("bank"), watch_events=False)
    async with app.run_test(size=(100, 40)) as pilot:
        await settled(pilot)
        app.open_job(JOBS[0].id)
        await settled(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        descriptions = {a.binding.description for a in app.screen.bindings.values()}
    assert {"Approve", "Reject", "Trail", "Copy id"} <= descriptions


async def test_slash_filters_a_table_and_escape_clears_it() -> None:
    from tui.widgets.filter_table import FilterTable

    app = AllianceApp(SeededSession("bank"), watch_events=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await settled(pilot)
        app.switch_mode("datasets")
        await settled(pilot)
        table = app.screen.query_one("#datasets", FilterTable)
        table.table.focus()
        await pilot.press("slash", *"telecom")
        await pilot.pause()
        assert table.keys == ["telecom/legacy", "telecom/subscribers"]
        await pilot.press("escape")
        await pilot.pause()
        assert len(table.keys) == 4
