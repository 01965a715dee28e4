"""The Overview's member nodes on fixed records (tui_seed): this org's own node as this machine
sees it, the others' only as the ledger shows them (no invented up/down), auditors not at all."""

from __future__ import annotations

import time

from tui_seed import SeededSession

from tui.app import AllianceApp
from tui.widgets.filter_table import FilterTable


def node_rows(app: AllianceApp) -> dict[str, list[str]]:
    table = app.screen.query_one("#nodes", FilterTable).table
    return {str(table.get_row(k)[0]): [str(c) for c in table.get_row(k)] for k in table.rows}


async def test_the_overview_shows_the_own_node_and_marks_the_others_ledger_only() -> None:
    app = AllianceApp(SeededSession("bank"), watch_events=False)
    async with app.run_test(size=(120, 40)) as pilot:
        deadline = time.monotonic() + 30
        # the own node is looked at once the ledger's part is on screen
        while node_rows(app).get("bank", ["", "…"])[1] == "…" and time.monotonic() < deadline:
            await pilot.pause(0.05)
        rows = node_rows(app)
    assert rows["bank"] == ["bank", "up", "block 14", "0", "here"]
    assert rows["telecom"] == ["telecom", "?", "?", "0", "ledger only"]
    assert "regulator" not in rows and "fintech" not in rows  # an auditor runs no node
