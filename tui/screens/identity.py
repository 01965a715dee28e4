"""Identity: who I am on the ledger, and my org's certificates with their expiry."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Label, Static

from tui.backend import CertificateInfo
from tui.format import local_time, short_time, shown_path
from tui.screens.base import AllianceScreen
from tui.widgets.filter_table import FilterTable


class IdentityScreen(AllianceScreen):
    TITLE = "Identity"

    BINDINGS = [Binding("c", "copy", "Copy fingerprint", id="identity.copy")]

    def compose_body(self) -> ComposeResult:
        yield Static(id="whoami")
        yield Label("Certificates of my org (full fingerprints: select and press c)",
                    classes="section")
        yield FilterTable(("user", "name", "role", "expires", "fingerprint"), id="certs")

    def fetch(self) -> tuple[list[CertificateInfo], Any]:
        members = self.session.members()
        me = next((m for m in members if m.org == self.session.org), None)
        return self.session.certificates(), me

    def show(self, data: Any) -> None:
        certs, me = data
        self._certs = {c.fingerprint: c for c in certs}
        s = self.session
        if me is None:
            ledger = "not a member on the ledger"
        else:
            ledger = f"{me.msp_id}, roles {', '.join(me.roles)}, {me.status.value}"
        mode = "read-only: actions are absent" if self.alliance.read_only else "may sign actions"
        self.query_one("#whoami", Static).update(
            f"org {s.org} · acting as {s.user} · {ledger} · {mode}\nnetwork {shown_path(s.net_dir)}"
        )
        self.query_one("#certs", FilterTable).set_rows(
            [
                (
                    c.fingerprint,
                    (c.user, c.common_name, c.role, short_time(c.not_after.timestamp()),
                     c.fingerprint),
                )
                for c in certs
            ]
        )

    def action_copy(self) -> None:
        key = self.query_one("#certs", FilterTable).selected_key
        if key:
            cert = self._certs[key]
            self.app.copy_to_clipboard(key)
            self.notify(f"copied {key} ({cert.user}, valid until "
                        f"{local_time(cert.not_after.timestamp())})")
