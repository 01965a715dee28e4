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


class MeasuredTable(DataTable[Cell]):
    """A DataTable that drops its render caches once it has measured new rows or cells.

    DataTable measures added rows when its queue is idle; a row drawn before that (the table
    filled while the screen paints) stayed cached at the header's widths, its cells cut
    ("ban" for "bank") until the next change. Clearing the caches after the measure redraws it.
    """

    @property
    def layout_pending(self) -> bool:
        """New rows or changed cells not yet measured (DataTable measures them when idle)."""
        return self._require_update_dimensions or bool(self._updated_cells)

    async def _on_idle(self, event: events.Idle) -> None:
        pending = self.layout_pending
        await super()._on_idle(event)
        if pending:
            self._clear_caches()
            self.refresh()


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
        self._order: list[str] = []
        self._in_table: dict[str, tuple[str, ...]] = {}

    def compose(self) -> ComposeResult:
        yield Input(placeholder="filter (esc clears)", classes="filter", disabled=True)
        table: DataTable[Cell] = MeasuredTable(cursor_type="row", zebra_stripes=True)
        table.add_columns(*self.columns)
        yield table

    @property
    def table(self) -> DataTable[Cell]:
        return self.query_one(DataTable)

    @property
    def filter_text(self) -> str:
        return self.query_one(Input).value.strip().lower()

    def set_rows(self, rows: Sequence[tuple[str, Sequence[Cell]]]) -> None:
        """Replace the rows, keeping the cursor on the same id when it is still there.

        Where the shown rows keep their order (rows gone, changed, or added at the end: what one
        committed event does), only those rows are touched; a 1,000-row table is not rebuilt and
        re-measured, nor scrolled back to the top, on every event."""
        self._rows = [(key, tuple(cells)) for key, cells in rows]
        if not self._update_in_place():
            self._render_rows()

    def _shown(self) -> list[tuple[str, tuple[Cell, ...]]]:
        needle = self.filter_text
        return [
            (key, cells)
            for key, cells in self._rows
            if not needle or needle in " ".join(str(c) for c in (key, *cells)).lower()
        ]

    def _update_in_place(self) -> bool:
        """Bring the table to the shown rows by removing, updating and adding rows (then
        ordering them, where new rows go elsewhere than at the end); False (nothing touched)
        when rows cannot be told apart by their cells, which ordering needs."""
        table = self.table
        wanted = self._shown()
        plain = [_plain(cells) for _, cells in wanted]
        position = {p: i for i, p in enumerate(plain)}
        new_keys = [key for key, _ in wanted]
        present = set(new_keys)
        if len(present) != len(wanted) or len(position) != len(wanted):
            return False
        current = self.selected_key
        had = self._in_table
        columns = list(table.columns)
        for key in had:
            if key not in present:
                table.remove_row(key)
        for (key, cells), p in zip(wanted, plain, strict=True):
            before = had.get(key)
            if before is None:
                table.add_row(*cells, key=key)
            elif before != p:
                for column, cell in zip(columns, cells, strict=True):
                    table.update_cell(key, column, cell, update_width=True)
        order = [k for k in self._order if k in present] + [k for k in new_keys if k not in had]
        if order != new_keys:
            table.sort(key=lambda values: position[_plain(values)])
        self._remember(new_keys, plain)
        if current in present and self.selected_key != current:
            table.move_cursor(row=table.get_row_index(current))
        return True

    def _remember(self, keys: list[str], plain: list[tuple[str, ...]]) -> None:
        """What the table shows now: ids top to bottom, and each row's cells as text."""
        self._order = keys
        self._in_table = dict(zip(keys, plain, strict=True))

    def _render_rows(self) -> None:
        table = self.table
        current = self.selected_key
        table.clear()
        shown = self._shown()
        for key, cells in shown:
            table.add_row(*cells, key=key)
        self._remember([key for key, _ in shown], [_plain(cells) for _, cells in shown])
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
        """The shown rows' ids, top to bottom."""
        return [str(row.key.value) for row in self.table.ordered_rows]

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


def _plain(cells: Sequence[Cell]) -> tuple[str, ...]:
    """A row's cells as text (rich Text is unhashable): what the user sees, compared."""
    return tuple(c.markup if isinstance(c, Text) else c for c in cells)
