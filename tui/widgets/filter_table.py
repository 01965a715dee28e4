"""A DataTable with a `/` filter: typing narrows the rows to those containing the text."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable, Input

Cell = str | Text


class FilterTable(Vertical):
    """Rows keyed by an id; `/` opens the filter, `esc` in the filter clears and closes it."""

    DEFAULT_CSS = """
    FilterTable { height: 1fr; }
    FilterTable > Input { display: none; height: 3; }
    FilterTable.filtering > Input { display: block; }
    FilterTable > DataTable { height: 1fr; }
    """

    BINDINGS = [Binding("slash", "filter", "Filter", id="table.filter")]

    class Chosen(Message):
        """Enter pressed on a row: `key` is its id."""

        def __init__(self, table: FilterTable, key: str) -> None:
            super().__init__()
            self.table = table
            self.key = key

        @property
        def control(self) -> FilterTable:
            return self.table

    def __init__(self, columns: Sequence[str], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.columns = list(columns)
        self._rows: list[tuple[str, tuple[Cell, ...]]] = []

    def compose(self) -> ComposeResult:
        yield Input(placeholder="filter (esc clears)", classes="filter", disabled=True)
        table: DataTable[Cell] = DataTable(cursor_type="row", zebra_stripes=True)
        table.add_columns(*self.columns)
        yield table

    @property
    def table(self) -> DataTable[Cell]:
        return self.query_one(DataTable)

    @property
    def filter_text(self) -> str:
        return self.query_one(Input).value.strip().lower()

    def set_rows(self, rows: Sequence[tuple[str, Sequence[Cell]]]) -> None:
        """Replace the rows, keeping the cursor on the same id when it is still there."""
        self._rows = [(key, tuple(cells)) for key, cells in rows]
        self._render_rows()

    def _render_rows(self) -> None:
        table = self.table
        current = self.selected_key
        table.clear()
        needle = self.filter_text
        for key, cells in self._rows:
            if needle and needle not in " ".join(str(c) for c in (key, *cells)).lower():
                continue
            table.add_row(*cells, key=key)
        if current is not None and current in table.rows:
            table.move_cursor(row=table.get_row_index(current))

    @property
    def selected_key(self) -> str | None:
        table = self.table
        if not table.row_count:
            return None
        try:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        except Exception:
            return None
        return str(key.value) if key.value is not None else None

    @property
    def keys(self) -> list[str]:
        return [str(k.value) for k in self.table.rows]

    def action_filter(self) -> None:
        self.add_class("filtering")
        inp = self.query_one(Input)
        inp.disabled = False
        inp.focus()

    @on(Input.Changed)
    def _narrow(self, event: Input.Changed) -> None:
        event.stop()
        self._render_rows()

    @on(Input.Submitted)
    def _done(self, event: Input.Submitted) -> None:
        event.stop()
        self.table.focus()

    def on_key(self, event: events.Key) -> None:
        inp = self.query_one(Input)
        if event.key == "escape" and inp.has_focus:
            inp.value = ""
            inp.disabled = True
            self.remove_class("filtering")
            self.table.focus()
            event.stop()
            event.prevent_default()

    @on(DataTable.RowSelected)
    def _chosen(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value is not None:
            self.post_message(self.Chosen(self, str(event.row_key.value)))
