"""Audit: the trail of a job, a dataset or a member — each transaction, its signer, endorsers,
block and validation code — and checking a result file against the ledger."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import Button, Input, Label, Select, Static

from tui.backend import BackendError
from tui.format import local_time
from tui.screens.base import AllianceScreen
from tui.screens.modals import VerifyForm, VerifyModal
from tui.widgets.filter_table import FilterTable

KINDS = (("job", "job"), ("dataset", "dataset"), ("member", "member"))


class AuditScreen(AllianceScreen):
    TITLE = "Audit"

    BINDINGS = [
        Binding("v", "verify", "Verify file", id="audit.verify"),
        Binding("c", "copy", "Copy tx id", id="audit.copy"),
        Binding("k", "verify_chain", "Verify chain", id="audit.verify_chain"),
    ]

    def __init__(self, kind: str = "job", key: str = "") -> None:
        super().__init__()
        self.kind = kind
        self.key = key
        self._rows: dict[str, dict[str, Any]] = {}

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="audit-query"):
            yield Select(KINDS, value=self.kind, allow_blank=False, id="kind")
            yield Input(value=self.key, placeholder="job id, org/dataset or org", id="key")
            yield Button("Trail", variant="primary", id="go")
        yield Static(id="chain")
        yield Label("Trail (enter: full transaction)", classes="section")
        yield FilterTable(
            ("block", "when", "action", "state", "signed by", "endorsed by", "validation"),
            id="trail",
        )
        yield Static(id="tx")

    def set_subject(self, kind: str, key: str) -> None:
        self.kind, self.key = kind, key
        if self.is_mounted:
            self.query_one("#kind", Select).value = kind
            self.query_one("#key", Input).value = key
            self.reload()

    @on(Input.Submitted, "#key")
    @on(Button.Pressed, "#go")
    def _go(self) -> None:
        self.kind = str(self.query_one("#kind", Select).value)
        self.key = self.query_one("#key", Input).value.strip()
        self.reload()

    def fetch(self) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        chain = self.session.chain()
        trail = self.session.record_trail(self.kind, self.key) if self.key else []
        return chain, trail

    def show(self, data: Any) -> None:
        chain, trail = data
        self.query_one("#chain", Static).update(
            f"ledger height {chain['height']} · head {chain['current_block_hash']}"
        )
        self._rows = {r["tx_id"]: r for r in trail}
        self.query_one("#trail", FilterTable).set_rows(
            [
                (
                    r["tx_id"],
                    (
                        str(r["block"]),
                        local_time(r["timestamp"]),
                        r["action"],
                        r["state"],
                        f"{r['signer']} {r['signer_msp_id']}",
                        ",".join(r["endorsers"]),
                        r["validation"],
                    ),
                )
                for r in trail
            ]
        )
        if self.key and not trail:
            self.query_one("#tx", Static).update(f"no transactions for {self.kind} {self.key}")

    @on(FilterTable.Chosen, "#trail")
    def _tx(self, event: FilterTable.Chosen) -> None:
        r = self._rows.get(event.key)
        if r is None:
            return
        t = Table.grid(padding=(0, 1))
        t.add_column(style="bold", no_wrap=True)
        t.add_column(overflow="fold")
        for k in ("tx_id", "block", "validation", "action", "state", "signer", "signer_msp_id",
                  "signer_fingerprint"):
            t.add_row(k, str(r[k]))
        t.add_row("endorsers", ", ".join(r["endorsers"]))
        t.add_row("time", local_time(r["timestamp"], seconds=True))
        self.query_one("#tx", Static).update(t)

    def action_copy(self) -> None:
        key = self.query_one("#trail", FilterTable).selected_key
        if key:
            self.app.copy_to_clipboard(key)
            self.notify(f"copied {key}")

    def action_verify_chain(self) -> None:
        self.query_one("#tx", Static).update("verifying the whole chain…")
        self._verify_chain()

    @work(thread=True, exclusive=True, group="verify-chain")
    def _verify_chain(self) -> None:
        try:
            report = self.session.verify_chain()
        except BackendError as exc:
            self.app.call_from_thread(self.query_one("#tx", Static).update,
                                      f"THE CHAIN DOES NOT VERIFY: {exc}")
            self.app.call_from_thread(self.show_error, exc)
            return
        t = Table.grid(padding=(0, 1))
        t.add_column(style="bold", no_wrap=True)
        t.add_column(overflow="fold")
        for k, v in report.items():
            t.add_row(str(k), str(v))
        self.app.call_from_thread(self.query_one("#tx", Static).update, t)

    def action_verify(self) -> None:
        def chosen(form: VerifyForm | None) -> None:
            if form:
                self.alliance.verify(form)

        self.app.push_screen(VerifyModal(self.key if self.kind == "job" else ""), chosen)
