"""Identity: who I am on the ledger, and every identity of my org (`alliance keys list`) with its
expiry; one expired, expiring within 30 days or revoked is flagged."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Label, Static

from alliance.app.keys import needs_attention
from tui.format import local_time, now, short_time, shown_path
from tui.screens.base import AllianceScreen
from tui.widgets.filter_table import FilterTable


def attention_line(flagged: list[dict[str, Any]]) -> str:
    """`⚠ client: expiring in 20 days; …` for the identities that need attention ("" if none)."""
    if not flagged:
        return ""
    listed = "; ".join(f"{i['identity']}: {i['status']}" for i in flagged)
    return f"⚠ {listed} (renew with `alliance keys rotate IDENTITY`)"


class IdentityScreen(AllianceScreen):
    TITLE = "Identity"

    BINDINGS = [Binding("c", "copy", "Copy fingerprint", id="identity.copy")]

    def compose_body(self) -> ComposeResult:
        yield Static(id="whoami")
        yield Static(id="attention", classes="warning")
        yield Label("Identities of my org (full fingerprints: select and press c)",
                    classes="section")
        yield FilterTable(("identity", "role", "status", "expires", "fingerprint"), id="certs")

    def fetch(self) -> tuple[list[dict[str, Any]], Any]:
        members = self.session.members()
        me = next((m for m in members if m.org == self.session.org), None)
        return self.session.identities(now()), me

    def show(self, data: Any) -> None:
        identities, me = data
        self._identities = {i["fingerprint"]: i for i in identities}
        s = self.session
        if me is None:
            ledger = "not a member on the ledger"
        else:
            ledger = f"{me.msp_id}, roles {', '.join(me.roles)}, {me.status.value}"
        mode = "read-only: actions are absent" if self.alliance.read_only else "may sign actions"
        self.query_one("#whoami", Static).update(
            f"org {s.org} · acting as {s.user} · {ledger} · {mode}\nnetwork {shown_path(s.net_dir)}"
        )
        flagged = [i for i in identities if needs_attention(i)]
        attention = self.query_one("#attention", Static)
        attention.update(attention_line(flagged))
        attention.display = bool(flagged)
        self.query_one("#certs", FilterTable).set_rows(
            [
                (
                    i["fingerprint"],
                    (i["identity"], i["role"],
                     Text(i["status"], style="bold red") if needs_attention(i) else i["status"],
                     short_time(_epoch(i["not_after"])), i["fingerprint"]),
                )
                for i in identities
            ]
        )

    def action_copy(self) -> None:
        key = self.query_one("#certs", FilterTable).selected_key
        if key:
            i = self._identities[key]
            self.app.copy_to_clipboard(key)
            self.notify(f"copied {key} ({i['identity']}, valid until "
                        f"{local_time(_epoch(i['not_after']))})")


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()
