"""Members and proposals: who is in, what is proposed, the votes and deadlines; propose; vote."""

from __future__ import annotations

from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Label

from alliance.models import Member, Proposal
from tui.format import local_time, short_time
from tui.screens.base import AllianceScreen
from tui.screens.modals import ConfirmModal, ProposalForm, ProposeModal
from tui.widgets.filter_table import FilterTable


def what_it_does(p: Proposal) -> str:
    """The change a proposal makes if it passes, in words."""
    if p.action == "join":
        return f"admit {p.org} as {', '.join(p.roles or ['member'])}"
    if p.action == "remove":
        return f"remove {p.org}: it loses every right at once"
    return f"give {p.org} the roles {', '.join(p.roles or [])}"


class MembersScreen(AllianceScreen):
    TITLE = "Members & proposals"

    BINDINGS = [
        Binding("p", "propose", "Propose", id="members.propose"),
        Binding("y", "vote('yes')", "Vote yes", id="members.vote_yes"),
        Binding("n", "vote('no')", "Vote no", id="members.vote_no"),
        Binding("t", "trail", "Trail", id="members.trail"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._proposals: dict[str, Proposal] = {}

    def compose_body(self) -> ComposeResult:
        yield Label("Members", classes="section")
        yield FilterTable(("org", "msp id", "roles", "status", "joined"), id="members")
        yield Label("Proposals (y/n: vote on the selected one)", classes="section")
        yield FilterTable(
            ("id", "does", "state", "yes", "no", "proposer", "deadline"), id="proposals"
        )

    def fetch(self) -> tuple[list[Member], list[Proposal]]:
        return self.session.members(), self.session.proposals()

    def show(self, data: Any) -> None:
        members, proposals = data
        self._proposals = {p.id: p for p in proposals}
        self.query_one("#members", FilterTable).set_rows(
            [
                (m.org, (m.org, m.msp_id, ",".join(m.roles), m.status.value,
                         short_time(m.joined_at)))
                for m in members
            ]
        )
        rows = []
        for p in sorted(proposals, key=lambda p: p.created_at, reverse=True):
            votes = [v.vote for v in p.votes.values()]
            rows.append(
                (
                    p.id,
                    (
                        p.id,
                        what_it_does(p),
                        p.state.value,
                        str(votes.count("yes")),
                        str(votes.count("no")),
                        p.proposer,
                        short_time(p.expires_at) if p.state.value == "PENDING" else "—",
                    ),
                )
            )
        self.query_one("#proposals", FilterTable).set_rows(rows)

    def select_proposal(self, proposal_id: str) -> None:
        table = self.query_one("#proposals", FilterTable)
        if proposal_id in table.table.rows:
            table.table.move_cursor(row=table.table.get_row_index(proposal_id))
            table.table.focus()

    def action_propose(self) -> None:
        def chosen(form: ProposalForm | None) -> None:
            if form:
                self.act(
                    lambda: self.session.propose(form.action, form.org, form.reason, form.roles),
                    lambda p: f"proposed {p.id}: {what_it_does(p)} — now {p.state.value}",
                )

        self.app.push_screen(ProposeModal(), chosen)

    def action_vote(self, vote: str) -> None:
        key = self.query_one("#proposals", FilterTable).selected_key
        p = self._proposals.get(key or "")
        if p is None:
            self.notify("select a proposal first", severity="warning")
            return
        if vote == "yes":
            effect = f"counts toward the proposal to {what_it_does(p)}"
        else:
            effect = f"counts against the proposal to {what_it_does(p)}"
        text = (
            f"{p.id} by {p.proposer}: \"{p.reason}\"\n"
            f"Your {vote.upper()} vote {effect}. The charter's majority decides; once enough "
            f"votes are in, the change is applied at once. Voting closes "
            f"{local_time(p.expires_at)}. Your vote is signed and recorded on the ledger."
        )

        def decided(ok: bool | None) -> None:
            if ok:
                self.act(
                    lambda: self.session.vote_proposal(p.id, vote),
                    lambda r: f"voted {vote} on {r.id}: now {r.state.value}",
                )

        self.app.push_screen(ConfirmModal(f"Vote {vote} on {p.id}?", text, f"Vote {vote}"),
                             decided)

    def action_trail(self) -> None:
        key = self.query_one("#members", FilterTable).selected_key
        if key:
            self.alliance.open_trail("member", key)

    @on(FilterTable.Chosen, "#members")
    def _member(self, event: FilterTable.Chosen) -> None:
        self.alliance.open_trail("member", event.key)
