"""One job: the whole authorization, where it stands, and — at a recipient — its output."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Label, Static

from alliance.app.results import DeliveredOutput
from alliance.models import Job
from tui.backend import changed_jobs
from tui.format import shown_path
from tui.screens.base import AllianceScreen
from tui.screens.modals import ConfirmModal, ReasonModal, VerifyForm, VerifyModal
from tui.widgets.authorization import job_authorization, job_status_table


@dataclass(frozen=True)
class JobData:
    job: Job
    awaits_me: bool
    """Waiting for this org's approval."""
    awaits_vote: bool
    """Waiting for this org's member vote (a protocol the charter puts to a vote)."""
    delivered: list[DeliveredOutput]
    revocable: bool = False
    """This org may revoke the job now (its requester or an approver, runs not used up)."""


class JobDetailScreen(AllianceScreen):
    TITLE = "Job"

    BINDINGS = [
        Binding("escape", "back", "Back", id="detail.back"),
        Binding("a", "approve", "Approve", id="job.approve"),
        Binding("x", "reject", "Reject", id="job.reject"),
        Binding("k", "revoke", "Revoke", id="job.revoke"),
        Binding("y", "vote_job('yes')", "Vote yes", id="job.vote_yes"),
        Binding("n", "vote_job('no')", "Vote no", id="job.vote_no"),
        Binding("t", "trail", "Trail", id="job.trail"),
        Binding("v", "verify", "Verify file", id="job.verify"),
        Binding("c", "copy", "Copy id", id="job.copy"),
    ]

    def __init__(self, job_id: str) -> None:
        super().__init__()
        self.job_id = job_id
        self.data: JobData | None = None

    def compose_body(self) -> ComposeResult:
        yield Label(f"Job {self.job_id}", id="job-title", classes="section")
        with VerticalScroll(id="job-body"):
            yield Static("loading…", id="authorization")
            yield Label("Status", classes="section")
            yield Static(id="status")
            yield Label("My output", classes="section", id="output-title")
            yield Static(id="output")

    def fetch(self) -> JobData:
        job = self.session.job(self.job_id)
        return JobData(
            job,
            self.session.awaits_approval(job),
            self.session.awaits_vote(job),
            self.session.delivered(job.id),
            self.session.may_revoke(job),
        )

    def ledger_changed(self, events: list[Any] | None) -> None:
        ids = changed_jobs(events)
        if ids is None or self.job_id in ids:
            self.reload()

    def show(self, data: Any) -> None:
        assert isinstance(data, JobData)
        self.data = data
        self.sub_title = f"{data.job.state.value}"
        self.query_one("#authorization", Static).update(job_authorization(data.job))
        self.query_one("#status", Static).update(job_status_table(data.job))
        self.query_one("#output", Static).update(self._outputs(data))
        self.refresh_bindings()

    def _outputs(self, data: JobData) -> Group | Text:
        mine = data.job.recipients_of(self.session.org)
        if not mine:
            return Text("this org receives no output of this job")
        if not data.delivered:
            return Text(f"{', '.join(mine)}: not delivered to this org's node yet")
        t = Table(expand=True, show_edge=False)
        for col in ("run", "output", "value / file", "digest (as on the ledger)"):
            t.add_column(col, overflow="fold")
        for d in data.delivered:
            shown = d.value if d.value is not None else f"({d.bytes} bytes, {d.kind})"
            t.add_row(str(d.run), d.name, f"{shown}\n{shown_path(d.path)}", d.digest)
        parts: list[Any] = [t]
        return Group(*parts)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("approve", "reject"):
            if self.alliance.read_only:
                return False
            return bool(self.data and self.data.awaits_me)
        if action == "revoke":
            if self.alliance.read_only:
                return False
            return bool(self.data and self.data.revocable)
        if action == "vote_job":
            if self.alliance.read_only:
                return False
            return bool(self.data and self.data.awaits_vote)
        return super().check_action(action, parameters)

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_copy(self) -> None:
        self.app.copy_to_clipboard(self.job_id)
        self.notify(f"copied {self.job_id}")

    def action_trail(self) -> None:
        self.alliance.open_trail("job", self.job_id)

    def action_approve(self) -> None:
        job = self.data.job if self.data else None
        if job is None:
            return
        outputs = "; ".join(f"{k} → {', '.join(v)}" for k, v in job.outputs.items())
        text = (
            f"Approve {job.id}: {job.protocol} requested by {job.requester}, reading "
            f"{', '.join(i.ref for i in job.inputs if i.owner == self.session.org)} of yours "
            f"(pinned fingerprints above); outputs go to "
            f"{outputs}; "
            f"up to {job.max_runs} run(s). Your signed approval is recorded on the ledger."
        )

        def decided(ok: bool | None) -> None:
            if ok:
                self.act(
                    lambda: self.session.approve_job(job.id),
                    lambda j: f"approved {j.id}: now {j.state.value}",
                )

        self.app.push_screen(ConfirmModal("Approve this job?", text, "Approve"), decided)

    def action_vote_job(self, vote: str) -> None:
        job = self.data.job if self.data else None
        if job is None:
            return
        effect = "counts toward letting it run" if vote == "yes" else "counts against it"
        text = (
            f"{job.protocol} requested by {job.requester} is put to a member vote by the charter. "
            f"Your {vote.upper()} vote {effect}; once enough members have voted the ledger "
            "decides. Your vote is signed and recorded on the ledger."
        )

        def decided(ok: bool | None) -> None:
            if ok:
                self.act(
                    lambda: self.session.vote_job(job.id, vote),
                    lambda j: f"voted {vote} on {j.id}: now {j.state.value}",
                )

        self.app.push_screen(ConfirmModal(f"Vote {vote} on {job.id}?", text, f"Vote {vote}"),
                             decided)

    def action_reject(self) -> None:
        job_id = self.job_id

        def decided(reason: str | None) -> None:
            if reason:
                self.act(
                    lambda: self.session.reject_job(job_id, reason),
                    lambda j: f"rejected {j.id}: it will never run",
                )

        self.app.push_screen(
            ReasonModal(
                "Reject this job?",
                f"{job_id} becomes REJECTED for good; your reason is recorded on the ledger.",
                "Reject",
            ),
            decided,
        )

    def action_revoke(self) -> None:
        """Reason first, then a confirmation that says what revoking does (it cannot be undone)."""
        job_id = self.job_id

        def confirmed(reason: str) -> None:
            def decided(ok: bool | None) -> None:
                if ok:
                    self.act(
                        lambda: self.session.revoke_job(job_id, reason),
                        lambda j: f"revoked {j.id}: it will never run again",
                    )

            self.app.push_screen(
                ConfirmModal(
                    f"Revoke {job_id}? This cannot be undone.",
                    f"{job_id} becomes REVOKED for good: no run of it starts again, and no "
                    f"one can undo this. Your reason ({reason!r}) is public: it is recorded on "
                    "the ledger with your signature.",
                    "Revoke for good",
                ),
                decided,
            )

        def given(reason: str | None) -> None:
            if reason:
                confirmed(reason)

        self.app.push_screen(
            ReasonModal(
                "Revoke this job?",
                f"Why revoke {job_id}? The reason is recorded on the ledger for every member.",
                "Next",
            ),
            given,
        )

    def action_verify(self) -> None:
        default = ""
        output = "result"
        if self.data and self.data.delivered:
            last = self.data.delivered[-1]
            default, output = last.path, last.name
        elif self.data and self.data.job.outputs:
            output = sorted(self.data.job.outputs)[0]

        def chosen(form: VerifyForm | None) -> None:
            if form:
                self.alliance.verify(form)

        self.app.push_screen(VerifyModal(self.job_id, output, default), chosen)

