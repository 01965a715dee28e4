"""Register a dataset from a file: preview its first rows and inferred schema (types can be
overridden), then fingerprint it here with progress; only the description goes on the ledger."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.table import Table
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Input, Label, ProgressBar, Static

from alliance.models import COLUMN_TYPES
from tui.backend import BackendError, FilePreview
from tui.screens.base import AllianceScreen


class RegisterScreen(AllianceScreen):
    TITLE = "Register a dataset"

    BINDINGS = [
        Binding("escape", "back", "Back", id="detail.back"),
        Binding("ctrl+o", "preview", "Preview", id="register.preview"),
        Binding("ctrl+s", "register", "Register", id="register.submit"),
    ]

    def __init__(self, new_version_of: str | None = None) -> None:
        super().__init__()
        self.new_version_of = new_version_of
        """The name of one of this org's datasets to register a new version of (None: new)."""

    def compose_body(self) -> ComposeResult:
        with VerticalScroll(id="register-form"):
            yield Label("File (CSV or Parquet) on this machine", classes="field")
            yield Input(placeholder="/path/to/customers.csv", id="file")
            yield Label("Dataset name", classes="field")
            yield Input(
                value=self.new_version_of or "",
                placeholder="customers",
                id="name",
                disabled=bool(self.new_version_of),
            )
            yield Label("Description (on the ledger: no values from the rows)", classes="field")
            yield Input(id="description")
            yield Label("Tags (comma separated)", classes="field")
            yield Input(id="tags")
            yield Label(
                f"Type overrides, e.g. id=string ({', '.join(COLUMN_TYPES)})", classes="field"
            )
            yield Input(id="types")
            with Horizontal(classes="buttons"):
                yield Button("Preview", id="preview")
                yield Button("Register", variant="primary", id="register")
            yield Static(id="preview-out")
            yield ProgressBar(id="progress", show_eta=False)
            yield Static(id="progress-text")

    def on_mount(self) -> None:
        """Nothing to load from the ledger; the title says which dataset gets a new version
        (set once the header is there)."""
        if self.new_version_of:
            self.title = f"New version of {self.new_version_of}"

    def on_screen_resume(self) -> None:
        """Keep what the user typed."""

    def action_back(self) -> None:
        self.app.pop_screen()

    def _value(self, key: str) -> str:
        return self.query_one(f"#{key}", Input).value.strip()

    def _types(self) -> dict[str, str]:
        types: dict[str, str] = {}
        for item in _words(self._value("types")):
            column, sep, kind = (part.strip() for part in item.partition("="))
            if not sep or not column or kind not in COLUMN_TYPES:
                raise BackendError(
                    f"type override {item!r}: write COLUMN=TYPE with TYPE one of "
                    f"{', '.join(COLUMN_TYPES)}"
                )
            types[column] = kind
        return types

    @on(Button.Pressed, "#preview")
    def action_preview(self) -> None:
        if not self._value("file"):
            self.notify("give the file to register", severity="warning")
            return
        self._preview(Path(self._value("file")).expanduser())

    @work(thread=True, exclusive=True, group="preview")
    def _preview(self, path: Path) -> None:
        try:
            preview = self.session.preview_file(path)
        except BackendError as exc:
            self.app.call_from_thread(self.show_error, exc)
            return
        self.app.call_from_thread(self._show_preview, preview)

    def _show_preview(self, preview: FilePreview) -> None:
        try:
            types = self._types()
        except BackendError as exc:
            self.notify(str(exc), severity="error")
            types = {}
        table = Table(title=f"{preview.path.name}: first rows", title_justify="left",
                      show_edge=False)
        for c in preview.columns:
            kind = types.get(c["name"], c["type"])
            table.add_column(f"{c['name']}\n{kind}", overflow="ellipsis", max_width=18)
        for row in preview.rows:
            table.add_row(*row)
        self.query_one("#preview-out", Static).update(table)
        if not self._value("name"):
            stem = preview.path.stem.lower().replace(" ", "_")
            self.query_one("#name", Input).value = stem

    @on(Button.Pressed, "#register")
    def action_register(self) -> None:
        path, name = self._value("file"), self._value("name")
        if not path or not name:
            self.notify("give the file and the dataset name", severity="warning")
            return
        try:
            types = self._types()
        except BackendError as exc:
            self.notify(str(exc), severity="error")
            return
        self.query_one("#register", Button).disabled = True
        self._register(Path(path).expanduser(), name, types)

    @work(thread=True, exclusive=True, group="register")
    def _register(self, path: Path, name: str, types: dict[str, str]) -> None:
        def progress(done: int, total: int | None) -> None:
            self.app.call_from_thread(self._progress, done, total)

        try:
            dataset = self.session.register_dataset(
                path,
                name,
                types=types,
                description=self._value("description"),
                tags=_words(self._value("tags")),
                progress=progress,
                update=bool(self.new_version_of),
            )
        except BackendError as exc:
            self.app.call_from_thread(self._failed, exc)
            return
        self.app.call_from_thread(self._registered, dataset)

    def _progress(self, done: int, total: int | None) -> None:
        bar = self.query_one("#progress", ProgressBar)
        bar.update(total=total, progress=done)
        self.query_one("#progress-text", Static).update(
            f"fingerprinting: {done} rows hashed" + (f" of {total}" if total else "")
        )

    def _failed(self, exc: BaseException) -> None:
        self.query_one("#register", Button).disabled = False
        self.show_error(exc)

    def _registered(self, dataset: Any) -> None:
        self.notify(f"registered {dataset.id} version {dataset.version} ({dataset.row_count} rows)")
        from tui.screens.dataset_detail import DatasetDetailScreen

        self.app.switch_screen(DatasetDetailScreen(dataset.id))


def _words(text: str) -> list[str]:
    return [w.strip() for w in text.split(",") if w.strip()]
