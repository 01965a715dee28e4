"""FilterTable updates rows in place when the ledger changes: a new row does not move the cursor
off the row the user is on, nor scroll the table back to the top."""

from __future__ import annotations

from textual.app import App, ComposeResult

from tui.widgets.filter_table import FilterTable


def rows(*ids: int) -> list[tuple[str, tuple[str, str]]]:
    return [(f"job-{i}", (f"job-{i}", f"state {i}")) for i in ids]


class TableApp(App[None]):
    def compose(self) -> ComposeResult:
        yield FilterTable(("id", "state"), id="t")


async def test_a_row_added_above_keeps_the_cursor_on_the_same_row() -> None:
    app = TableApp()
    async with app.run_test(size=(60, 20)) as pilot:
        table = app.query_one(FilterTable)
        table.set_rows(rows(3, 2, 1))
        await pilot.pause()
        table.table.move_cursor(row=1)
        assert table.selected_key == "job-2"
        table.set_rows(rows(4, 3, 2, 1))
        await pilot.pause()
        assert table.keys == ["job-4", "job-3", "job-2", "job-1"]
        assert table.selected_key == "job-2"


async def test_a_changed_row_shows_its_new_cells_and_a_gone_row_goes() -> None:
    app = TableApp()
    async with app.run_test(size=(60, 20)) as pilot:
        table = app.query_one(FilterTable)
        table.set_rows(rows(3, 2, 1))
        await pilot.pause()
        table.set_rows([("job-3", ("job-3", "COMPLETED")), *rows(1)])
        await pilot.pause()
        assert table.keys == ["job-3", "job-1"]
        assert [str(c) for c in table.table.get_row("job-3")] == ["job-3", "COMPLETED"]
