"""Overview: who is in the alliance, how tall the ledger is, each member node's health (as far
as this org can know it), what waits for me, what just committed."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Label, RichLog, Static

from alliance.app import nodes as app_nodes
from alliance.app.keys import needs_attention
from alliance.app.nodes import running_claims
from alliance.models import Job, Member
from tui.backend import BackendError, NodeHealth, PendingDecisions, changed_jobs
from tui.format import now, short_time
from tui.screens.base import AllianceScreen
from tui.widgets.filter_table import FilterTable


@dataclass(frozen=True)
class OverviewData:
    members: list[Member]
    height: int
    pending: PendingDecisions
    nodes: list[NodeHealth]


class OverviewScreen(AllianceScreen):
    TITLE = "Overview"

    _data: OverviewData | None = None

    def compose_body(self) -> ComposeResult:
        yield Static(id="summary")
        yield Static(id="keys-badge", classes="warning")
        with Horizontal(id="overview-top"):
            with Vertical(id="members-box"):
                yield Label("Members", classes="section")
                yield FilterTable(("org", "roles", "status"), id="members")
            with Vertical(id="pending-box"):
                yield Label("Waiting for my decision", classes="section")
                yield FilterTable(("kind", "id", "what", "until"), id="pending")
                yield Label("Member nodes (others: only what the ledger shows)", classes="section")
                yield FilterTable(("node", "up", "checkpoint", "running", "seen from"), id="nodes")
        yield Label("Ledger events (live)", classes="section")
        yield RichLog(id="feed", max_lines=500, markup=False, wrap=False)

    def on_mount(self) -> None:
        self._replay_feed()
        super().on_mount()

    def on_screen_resume(self) -> None:
        self._replay_feed()
        super().on_screen_resume()

    def _replay_feed(self) -> None:
        """The feed as the app kept it (events arrive while other screens are shown too)."""
        feed = self.query_one("#feed", RichLog)
        feed.clear()
        for line in self.alliance.feed:
            feed.write(line)

    def fetch(self) -> OverviewData:
        """Members, height and what waits for me; the nodes as far as the ledger shows them
        (this org's own node is looked at by `_look_at_own_node`, apart: the first look loads
        the node's code, seconds on a busy machine, and must not hold up the rest)."""
        s = self.session
        members, jobs = s.members(), s.jobs()
        own = self._own_node if self._own_node is not None else (None, None)
        return OverviewData(members, s.height(), s.pending(jobs),
                            app_nodes.node_health(members, jobs, s.org, own))

    _own_node: tuple[bool | None, int | None] | None = None
    _flagged: list[dict[str, Any]] = []
    """This org's identities that need attention (expired, expiring within 30 days, revoked)."""

    _look_after_show = False

    def reload(self) -> None:
        """Read the ledger; once that is on screen, look at this org's node and identities
        (not at the same time: the first look loads the node's code, which would compete with
        the first paint)."""
        self._look_after_show = True
        super().reload()

    @work(thread=True, exclusive=True, group="own-node")
    def _look_at_own_node(self) -> None:
        """This org's node and identities, as this machine sees them."""
        try:
            own = self.session.local_node()
            flagged = [i for i in self.session.identities(now()) if needs_attention(i)]
        except BackendError as exc:
            self.app.call_from_thread(self.show_error, exc)
            return
        self.app.call_from_thread(self._own_node_seen, own, flagged)

    def _own_node_seen(self, own: tuple[bool, int | None], flagged: list[dict[str, Any]]) -> None:
        self._own_node = own
        self._flagged = flagged
        data = self._data
        if data is not None:
            nodes = [replace(n, up=own[0], checkpoint_block=own[1]) if n.own else n
                     for n in data.nodes]
            self.show(replace(data, nodes=nodes))

    def ledger_changed(self, events: list[Any] | None) -> None:
        ids = changed_jobs(events)
        if ids is None or self._data is None:
            self.reload()
        else:
            self._update(ids)

    @work(thread=True, group="load")
    def _update(self, ids: set[str]) -> None:
        """Only jobs changed: read those jobs, not every job again (the height comes with the
        events)."""
        try:
            fresh = [self.session.job(job_id) for job_id in sorted(ids)]
        except BackendError as exc:
            self.app.call_from_thread(self.show_error, exc)
            return
        self.app.call_from_thread(self._fold, fresh)

    def _fold(self, fresh: list[Job]) -> None:
        height = self.alliance.height
        data = self._data
        if data is None:
            return
        s = self.session
        gone = {j.id for j in fresh}
        p = data.pending
        pending = PendingDecisions(
            approvals=[j for j in p.approvals if j.id not in gone]
            + [j for j in fresh if s.awaits_approval(j)],
            job_votes=[j for j in p.job_votes if j.id not in gone]
            + [j for j in fresh if s.awaits_vote(j)],
            proposals=p.proposals,
        )
        running = running_claims(fresh)
        nodes = [
            replace(n, running_jobs=sorted(
                {j for j in n.running_jobs if j not in gone} | set(running.get(n.org, []))))
            for n in data.nodes
        ]
        self.show(OverviewData(data.members, max(height, data.height), pending, nodes))

    def show(self, data: Any) -> None:
        assert isinstance(data, OverviewData)
        self._data = data
        if self._look_after_show:
            self._look_after_show = False
            self.call_after_refresh(self._look_at_own_node)
        p = data.pending
        me = self.session
        role = "read-only" if self.alliance.read_only else "member"
        self.query_one("#summary", Static).update(
            f"{me.org} ({me.user}, {role}) · height {data.height} · waiting for me: "
            f"{len(p.approvals)} approvals, {len(p.job_votes)} job votes, "
            f"{len(p.proposals)} member votes"
        )
        badge = self.query_one("#keys-badge", Static)
        n = len(self._flagged)
        badge.update(f"⚠ identity needs attention: "
                     f"{', '.join(i['identity'] for i in self._flagged)} (6: Identity)")
        badge.display = bool(n)
        self.query_one("#members", FilterTable).set_rows(
            [(m.org, (m.org, ",".join(m.roles), m.status.value)) for m in data.members]
        )
        self.query_one("#nodes", FilterTable).set_rows(
            [(n.org, _node_row(n)) for n in data.nodes]
        )
        rows: list[tuple[str, tuple[str, ...]]] = []
        for j in p.approvals:
            rows.append((j.id, ("approve", j.id, f"{j.protocol} by {j.requester}",
                                short_time(j.expires_at))))
        for j in p.job_votes:
            rows.append((j.id, ("job vote", j.id, f"{j.protocol} by {j.requester}",
                                short_time(j.expires_at))))
        for prop in p.proposals:
            rows.append((prop.id, ("member vote", prop.id, f"{prop.action} {prop.org}",
                                   short_time(prop.expires_at))))
        self.query_one("#pending", FilterTable).set_rows(rows)

    def feed_line(self, line: str) -> None:
        self.query_one("#feed", RichLog).write(line)

    @on(FilterTable.Chosen, "#pending")
    def _open(self, event: FilterTable.Chosen) -> None:
        if event.key.startswith("prop-"):
            self.alliance.open_proposal(event.key)
        else:
            self.alliance.open_job(event.key)


def _node_row(n: NodeHealth) -> tuple[str, ...]:
    """A node's row: what this machine sees of its own node, and for the others only what the
    ledger shows ("?" where nothing can be known from here)."""
    if n.own and n.up is None:
        return (n.org, "…", "…", str(len(n.running_jobs)), "here")
    up = "?" if n.up is None else ("up" if n.up else "down")
    block = "?" if n.checkpoint_block is None and not n.own else (
        "none" if n.checkpoint_block is None else f"block {n.checkpoint_block}")
    return (n.org, up, block, str(len(n.running_jobs)), "here" if n.own else "ledger only")
