"""Modal dialogs that return a typed answer: confirm (bool), a reason (str | None), a form."""

from __future__ import annotations

from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static


class ConfirmModal(ModalScreen[bool]):
    """States what an irreversible action does; returns True only on an explicit yes."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="modal.cancel")]

    def __init__(self, title: str, text: str, confirm: str = "Confirm") -> None:
        super().__init__()
        self.title_text = title
        self.body = text
        self.confirm_label = confirm

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.title_text, classes="dialog-title")
            yield Static(self.body, classes="dialog-body")
            with Horizontal(classes="dialog-buttons"):
                yield Button(self.confirm_label, variant="primary", id="confirm")
                yield Button("Cancel", id="cancel")

    @on(Button.Pressed, "#confirm")
    def _yes(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(False)


class ReasonModal(ModalScreen[str | None]):
    """Asks for a reason (recorded on the ledger as given); None when cancelled."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="modal.cancel")]

    def __init__(self, title: str, text: str, confirm: str = "Submit") -> None:
        super().__init__()
        self.title_text = title
        self.body = text
        self.confirm_label = confirm

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.title_text, classes="dialog-title")
            yield Static(self.body, classes="dialog-body")
            yield Input(placeholder="reason (required)", id="reason")
            with Horizontal(classes="dialog-buttons"):
                yield Button(self.confirm_label, variant="error", id="confirm")
                yield Button("Cancel", id="cancel")

    @on(Input.Submitted)
    @on(Button.Pressed, "#confirm")
    def _submit(self) -> None:
        reason = self.query_one("#reason", Input).value.strip()
        if not reason:
            self.notify("give a reason: it is recorded on the ledger with your decision",
                        severity="warning")
            return
        self.dismiss(reason)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


@dataclass(frozen=True)
class ProposalForm:
    action: str
    org: str
    roles: list[str]
    reason: str


class ProposeModal(ModalScreen[ProposalForm | None]):
    """Propose that an org joins, is removed, or gets new roles."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="modal.cancel")]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Propose a membership change", classes="dialog-title")
            yield Select(
                [("admit an org", "join"), ("remove a member", "remove"),
                 ("change a member's roles", "set_roles")],
                value="join",
                allow_blank=False,
                id="action",
            )
            yield Input(placeholder="org (e.g. fintech)", id="org")
            yield Input(placeholder="roles: member or auditor (comma separated)", value="member",
                        id="roles")
            yield Input(placeholder="reason (recorded on the ledger)", id="reason")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Propose", variant="primary", id="confirm")
                yield Button("Cancel", id="cancel")

    @on(Button.Pressed, "#confirm")
    def _submit(self) -> None:
        org = self.query_one("#org", Input).value.strip()
        reason = self.query_one("#reason", Input).value.strip()
        if not org or not reason:
            self.notify("name the org and give a reason", severity="warning")
            return
        roles = [r.strip() for r in self.query_one("#roles", Input).value.split(",") if r.strip()]
        action = str(self.query_one("#action", Select).value)
        self.dismiss(ProposalForm(action, org, roles, reason))

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


@dataclass(frozen=True)
class VerifyForm:
    job_id: str
    output: str
    path: str


class VerifyModal(ModalScreen[VerifyForm | None]):
    """Which result file to check against the digest on the ledger."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="modal.cancel")]

    def __init__(self, job_id: str = "", output: str = "result", path: str = "") -> None:
        super().__init__()
        self.defaults = (job_id, output, path)

    def compose(self) -> ComposeResult:
        job_id, output, path = self.defaults
        with Vertical(classes="dialog"):
            yield Label("Verify a result file against the ledger", classes="dialog-title")
            yield Input(value=job_id, placeholder="job id", id="job")
            yield Input(value=output, placeholder="output name (e.g. result)", id="output")
            yield Input(value=path, placeholder="path of the file", id="path")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Verify", variant="primary", id="confirm")
                yield Button("Cancel", id="cancel")

    @on(Input.Submitted)
    @on(Button.Pressed, "#confirm")
    def _submit(self) -> None:
        values = [self.query_one(f"#{k}", Input).value.strip() for k in ("job", "output", "path")]
        if not all(values):
            self.notify("give the job id, the output name and the file", severity="warning")
            return
        self.dismiss(VerifyForm(*values))

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
