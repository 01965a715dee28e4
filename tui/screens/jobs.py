"""Jobs: the approval inbox (what waits for my decision), my requests, and every job."""

from __future__ import annotations

from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Label

from alliance.app.jobs import runs_text
from alliance.models import Job
from tui.backend import BackendError, changed_jobs
from tui.format import short_time
from tui.screens.base import AllianceScreen
from tui.widgets.filter_table import FilterTable

VIEWS = {
    "inbox": "Approval inbox: jobs waiting for my approval or vote",
    "mine": "My requests",
    "all": "Every job I can see",
}


class JobsScreen(AllianceScreen):
    TITLE = "Jobs"

    BINDINGS = [
        Binding("i", "view('inbox')", "Inbox", id="jobs.inbox"),
        Binding("m", "view('mine')", "Mine", id="jobs.mine"),
        Binding("a", "view('all')", "All", id="jobs.all"),
        Binding("n", "new_job", "New job", id="jobs.new"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.view = "inbox"
        self._jobs: list[Job] = []
        self._waiting: set[str] = set()

    def compose_body(self) -> ComposeResult:
        yield Label(VIEWS[self.view], id="view-title", classes="section")
        yield FilterTable(
            ("id", "protocol", "state", "requester", "participants", "runs", "expires"),
            id="jobs",
        )

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "view" and parameters and parameters[0] != "all" and self.alliance.read_only:
            return False
        return super().check_action(action, parameters)

    def fetch(self) -> list[Job]:
        return self.session.jobs()

    def ledger_changed(self, events: list[Any] | None) -> None:
        ids = changed_jobs(events)
        if ids is None or not self._jobs:
            self.reload()
        else:
            self._update(ids)

    @work(thread=True, group="load")
    def _update(self, ids: set[str]) -> None:
        """Read only the jobs the events name, and fold them into the list."""
        try:
            fresh = [self.session.job(job_id) for job_id in sorted(ids)]
        except BackendError as exc:
            self.app.call_from_thread(self.show_error, exc)
            return
        self.app.call_from_thread(self._fold, fresh)

    def _fold(self, fresh: list[Job]) -> None:
        by_id = {j.id: j for j in self._jobs}
        by_id.update({j.id: j for j in fresh})
        self.show(list(by_id.values()))

    def show(self, data: Any) -> None:
        self._jobs = list(data)
        s = self.session
        self._waiting = {j.id for j in self._jobs if s.awaits_approval(j) or s.awaits_vote(j)}
        if self.alliance.read_only and self.view != "all":
            self.view = "all"
        self._render_view()

    def _render_view(self) -> None:
        self.query_one("#view-title", Label).update(VIEWS[self.view])
        if self.view == "inbox":
            jobs = [j for j in self._jobs if j.id in self._waiting]
        elif self.view == "mine":
            jobs = [j for j in self._jobs if j.requester == self.session.org]
        else:
            jobs = self._jobs
        jobs = sorted(jobs, key=lambda j: j.created_at, reverse=True)
        self.query_one("#jobs", FilterTable).set_rows(
            [
                (
                    j.id,
                    (
                        j.id,
                        j.protocol,
                        j.state.value,
                        j.requester,
                        ",".join(j.participants),
                        runs_text(j, short=True),
                        short_time(j.expires_at),
                    ),
                )
                for j in jobs
            ]
        )

    def action_view(self, view: str) -> None:
        self.view = view
        self._render_view()

    def action_new_job(self) -> None:
        self.alliance.action_new_job()

    @on(FilterTable.Chosen)
    def _open(self, event: FilterTable.Chosen) -> None:
        self.alliance.open_job(event.key)
