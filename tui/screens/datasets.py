"""Datasets: every member's registered assets (descriptions and fingerprints, never rows)."""

from __future__ import annotations

from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Label

from alliance.models import Dataset
from tui.format import short_id, short_time
from tui.screens.base import AllianceScreen
from tui.widgets.filter_table import FilterTable


class DatasetsScreen(AllianceScreen):
    TITLE = "Datasets"

    BINDINGS = [Binding("r", "register", "Register", id="datasets.register")]

    def compose_body(self) -> ComposeResult:
        yield Label("Catalog (enter: details, /: filter)", classes="section")
        yield FilterTable(
            ("id", "ver", "rows", "cols", "status", "tags", "updated", "fingerprint"),
            id="datasets",
        )

    def fetch(self) -> list[Dataset]:
        return self.session.datasets(include_retired=True)

    def show(self, data: Any) -> None:
        self.query_one("#datasets", FilterTable).set_rows(
            [
                (
                    d.id,
                    (
                        d.id,
                        str(d.version),
                        str(d.row_count),
                        str(len(d.schema_)),
                        d.status.value,
                        ",".join(d.tags),
                        short_time(d.updated_at),
                        short_id(d.fingerprint, 15),
                    ),
                )
                for d in sorted(data, key=lambda d: d.id)
            ]
        )

    def action_register(self) -> None:
        from tui.screens.register import RegisterScreen

        self.app.push_screen(RegisterScreen())

    @on(FilterTable.Chosen)
    def _open(self, event: FilterTable.Chosen) -> None:
        from tui.screens.dataset_detail import DatasetDetailScreen

        self.app.push_screen(DatasetDetailScreen(event.key))
