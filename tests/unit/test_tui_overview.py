"""The Overview's member nodes on the seeded ledger: this org's own node as this machine sees it,
the others' only as the ledger shows them (no invented up/down)."""

from __future__ import annotations

from tui_seed import SeededSession

from tui.app import AllianceApp
from tui.widgets.filter_table import FilterTable


async def test_the_overview_shows_the_own_node_and_marks_the_others_ledger_only() -> None:
    app = AllianceApp(SeededSession("bank"), watch_events=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        table = app.screen.query_one("#nodes", FilterTable).table
        rows = {str(table.get_row(k)[0]): [str(c) for c in table.get_row(k)]
                for k in table.rows}
    assert rows["bank"] == ["bank", "up", "block 14", "0", "here"]
    assert rows["telecom"] == ["telecom", "?", "?", "0", "ledger only"]
    assert "regulator" in rows and "fintech" not in rows
