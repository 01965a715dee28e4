"""One dataset: owner, schema, row count, full fingerprint, and its version history."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Label, Static

from alliance.models import Dataset
from tui.format import local_time
from tui.screens.base import AllianceScreen
from tui.screens.modals import ConfirmModal


class DatasetDetailScreen(AllianceScreen):
    TITLE = "Dataset"

    BINDINGS = [
        Binding("escape", "back", "Back", id="detail.back"),
        Binding("t", "trail", "Trail", id="dataset.trail"),
        Binding("c", "copy", "Copy id", id="dataset.copy"),
        Binding("f", "copy_fingerprint", "Copy fingerprint", id="dataset.copy_fp"),
        Binding("u", "new_version", "New version", id="dataset.new_version"),
        Binding("ctrl+x", "retire", "Retire", id="dataset.retire"),
    ]

    def __init__(self, dataset_id: str) -> None:
        super().__init__()
        self.dataset_id = dataset_id
        self.dataset: Dataset | None = None

    def compose_body(self) -> ComposeResult:
        yield Label(f"Dataset {self.dataset_id}", classes="section")
        with VerticalScroll():
            yield Static("loading…", id="facts")
            yield Label("Schema", classes="section")
            yield Static(id="schema")
            yield Label("Version history", classes="section")
            yield Static(id="history")

    def fetch(self) -> tuple[Dataset, list[Any]]:
        return (
            self.session.dataset(self.dataset_id),
            self.session.dataset_history(self.dataset_id),
        )

    def show(self, data: Any) -> None:
        d, history = data
        self.dataset = d
        facts = Table.grid(padding=(0, 1))
        facts.add_column(style="bold", no_wrap=True)
        facts.add_column(overflow="fold")
        for k, v in (
            ("owner", d.owner),
            ("status", d.status.value),
            ("version", str(d.version)),
            ("rows", str(d.row_count)),
            ("fingerprint", d.fingerprint),
            ("description", d.description or "—"),
            ("tags", ", ".join(d.tags) or "—"),
            ("registered", local_time(d.registered_at)),
            ("updated", f"{local_time(d.updated_at)} in tx {d.updated_tx}"),
        ):
            facts.add_row(k, v)
        self.query_one("#facts", Static).update(facts)
        schema = Table(expand=True, show_edge=False)
        schema.add_column("column")
        schema.add_column("type")
        for c in d.schema_:
            schema.add_row(c.name, c.type)
        self.query_one("#schema", Static).update(schema)
        hist = Table(expand=True, show_edge=False)
        for col in ("when", "version", "status", "rows", "fingerprint", "tx"):
            hist.add_column(col, overflow="fold")
        for h in history:
            v = h.value or {}
            hist.add_row(
                local_time(h.timestamp),
                str(v.get("version", "")),
                "deleted" if h.is_delete else str(v.get("status", "")),
                str(v.get("row_count", "")),
                str(v.get("fingerprint", "")),
                h.tx_id,
            )
        self.query_one("#history", Static).update(hist)
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("retire", "new_version"):
            if self.alliance.read_only:
                return False
            return bool(self.dataset and self.dataset.owner == self.session.org
                        and self.dataset.status.value == "active")
        return super().check_action(action, parameters)

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_copy(self) -> None:
        self.app.copy_to_clipboard(self.dataset_id)
        self.notify(f"copied {self.dataset_id}")

    def action_copy_fingerprint(self) -> None:
        if self.dataset:
            self.app.copy_to_clipboard(self.dataset.fingerprint)
            self.notify(f"copied {self.dataset.fingerprint}")

    def action_trail(self) -> None:
        self.alliance.open_trail("dataset", self.dataset_id)

    def action_new_version(self) -> None:
        from tui.screens.register import RegisterScreen

        if self.dataset is not None:
            self.app.push_screen(RegisterScreen(new_version_of=self.dataset.name))

    def action_retire(self) -> None:
        d = self.dataset
        if d is None:
            return

        def decided(ok: bool | None) -> None:
            if ok:
                self.act(lambda: self.session.retire_dataset(d.name), f"retired {d.id}")

        self.app.push_screen(
            ConfirmModal(
                "Retire this dataset?",
                f"{d.id} becomes retired: no new job may name it. Jobs already approved keep "
                "their pinned fingerprint. This is recorded on the ledger.",
                "Retire",
            ),
            decided,
        )

