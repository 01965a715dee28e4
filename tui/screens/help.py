"""`?`: the keys of the screen below and of the whole app."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import ActiveBinding, Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

TIPS = (
    ("ctrl+p", "command palette: every screen and action by name"),
    ("/", "filter the table under the cursor"),
    ("enter", "open the selected row"),
    ("arrows", "move in a table"),
    ("esc", "back (or clear the filter)"),
    ("tab", "next widget"),
)


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape", "close", "Close", id="help.close"),
        Binding("question_mark", "close", "Close", show=False, id="help.close2"),
    ]

    def __init__(self, bindings: dict[str, ActiveBinding]) -> None:
        super().__init__()
        self.bindings = bindings

    def compose(self) -> ComposeResult:
        table = Table(show_edge=False, expand=True)
        table.add_column("key", no_wrap=True, style="bold")
        table.add_column("does")
        seen = set()
        for key, active in self.bindings.items():
            b = active.binding
            if not active.enabled or not b.description or (key, b.description) in seen:
                continue
            if not (b.show or b.id):  # widgets' own cursor keys: see TIPS
                continue
            seen.add((key, b.description))
            table.add_row(b.key_display or self.app.get_key_display(b), b.description)
        for key, text in TIPS:
            table.add_row(key, text)
        with VerticalScroll(classes="dialog"):
            yield Label("Keys", classes="dialog-title")
            yield Static(table)

    def action_close(self) -> None:
        self.dismiss(None)
