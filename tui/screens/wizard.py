"""New job wizard: protocol → inputs from the catalog's columns → parameters → outputs and
recipients → expiry and runs → a review identical to the approvers' view → submit.

Protocols come from the registry the contract uses; parameters are checked by the protocol's
schema through the backend; every rule beyond that is the contract's, and a refusal shows its
reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, ContentSwitcher, Input, Label, Select, SelectionList, Static

from alliance.app.decisions import is_read_only
from alliance.durations import parse_duration
from alliance.errors import DurationError
from alliance.models import Dataset, JobInput, Member
from tui.backend import BackendError
from tui.screens.base import AllianceScreen
from tui.widgets.authorization import authorization_table

STEPS = ("protocol", "inputs", "parameters", "outputs", "limits", "review")
TITLES = {
    "protocol": "1/6 Protocol",
    "inputs": "2/6 Inputs: columns from the catalog",
    "parameters": "3/6 Parameters",
    "outputs": "4/6 Outputs and who receives each",
    "limits": "5/6 Expiry, runs, dealer",
    "review": "6/6 Review: exactly what approvers will see",
}


@dataclass(frozen=True)
class Draft:
    protocol: str
    inputs: list[str]
    parameters: dict[str, str]
    outputs: dict[str, list[str]]
    expires_in_seconds: int
    expires_text: str
    max_runs: int
    dealer: str | None


class WizardScreen(AllianceScreen):
    TITLE = "New job"

    BINDINGS = [
        Binding("escape", "back", "Back", id="detail.back"),
        Binding("ctrl+n", "next", "Next", id="wizard.next"),
        Binding("ctrl+b", "previous", "Previous", id="wizard.previous"),
        Binding("ctrl+s", "submit", "Submit", id="wizard.submit"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.step = 0
        self.protocols: dict[str, Any] = {}
        self.datasets: list[Dataset] = []
        self.members: list[Member] = []
        self.param_names: list[str] = []

    def compose_body(self) -> ComposeResult:
        yield Label(TITLES["protocol"], id="step-title", classes="section")
        with ContentSwitcher(initial="protocol", id="steps"):
            with Vertical(id="protocol"):
                yield Select([], prompt="choose a protocol", id="protocol-select")
                yield Static(id="protocol-help")
            with Vertical(id="inputs"):
                yield SelectionList[str](id="input-list")
                yield Static(id="input-help")
            with VerticalScroll(id="parameters"):
                yield Static(id="param-help")
                yield Vertical(id="param-fields")
            with VerticalScroll(id="outputs"):
                yield Static(id="output-help")
                yield Vertical(id="output-fields")
            with VerticalScroll(id="limits"):
                yield Label("Expires in (e.g. 30m, 24h, 7d)", classes="field")
                yield Input(value="24h", id="expires")
                yield Label("Runs allowed", classes="field")
                yield Input(value="1", id="runs")
                yield Label("Dealer (a member, or none)", classes="field")
                yield Select([], prompt="none", id="dealer")
            with VerticalScroll(id="review"):
                yield Static(id="review-body")
        with Horizontal(classes="buttons"):
            yield Button("Previous", id="prev")
            yield Button("Next", variant="primary", id="next")
            yield Button("Submit", variant="success", id="submit", disabled=True)

    def fetch(self) -> tuple[dict[str, Any], list[Dataset], list[Member]]:
        return (
            self.session.protocols(),
            self.session.datasets(include_retired=False),
            self.session.members(),
        )

    def on_screen_resume(self) -> None:
        """Keep the draft when coming back from a dialog."""

    def show(self, data: Any) -> None:
        first = not self.protocols
        self.protocols, self.datasets, self.members = data
        if first:
            select = self.query_one("#protocol-select", Select)
            select.set_options([(name, name) for name in sorted(self.protocols)])
            select.focus()
            self.query_one("#dealer", Select).set_options(
                [(org, org) for org in self.takers()]
            )

    def takers(self) -> list[str]:
        """The orgs that may receive an output or deal: active members with the member role
        (`decisions.is_read_only` is the rule; the contract applies the same)."""
        return sorted(m.org for m in self.members if not is_read_only(self.members, m.org))

    # ---- steps ---------------------------------------------------------------------------------

    @on(Select.Changed, "#protocol-select")
    def _protocol_chosen(self, event: Select.Changed) -> None:
        name = event.value
        if not isinstance(name, str):
            return
        spec = self.protocols[name]
        self.query_one("#protocol-help", Static).update(self.session.protocol_help(name))
        allowed = self.session.protocol_input_types(name)
        options = []
        for d in self.datasets:
            for c in d.schema_:
                if allowed is None or c.type in allowed:
                    ref = f"{d.id}:{c.name}"
                    options.append((f"{ref} ({c.type}, {d.row_count} rows)", ref))
        inputs = self.query_one("#input-list", SelectionList)
        inputs.clear_options()
        inputs.add_options(options)
        kinds = "any type" if allowed is None else ", ".join(sorted(allowed))
        self.query_one("#input-help", Static).update(
            f"space: pick a column · only columns of {kinds} are listed for {name}"
        )
        self.query_one("#param-help", Static).update(
            "Empty fields take their default; the protocol's schema checks the values."
        )
        params = self.query_one("#param-fields", Vertical)
        params.remove_children()
        self.param_names = []
        for pname, text, default in self.session.parameter_fields(name):
            self.param_names.append(pname)
            params.mount(Label(text, classes="field"))
            params.mount(Input(placeholder=default or "", id=f"param-{pname}"))
        fields = self.query_one("#output-fields", Vertical)
        fields.remove_children()
        takers = self.takers()
        for output in spec:
            fields.mount(Label(f"{output} → who receives it", classes="field"))
            fields.mount(SelectionList[str](*[(org, org) for org in takers], id=f"out-{output}",
                                            classes="recipients"))
        self.query_one("#output-help", Static).update(
            f"{name} produces: {', '.join(spec)}. space: pick a recipient among the members; "
            "pick none to not produce an output."
        )

    def _draft(self) -> Draft:
        protocol = self.query_one("#protocol-select", Select).value
        if not isinstance(protocol, str):
            raise BackendError("choose a protocol first")
        inputs = list(self.query_one("#input-list", SelectionList).selected)
        parameters = {}
        for pname in self.param_names:
            value = self.query_one(f"#param-{pname}", Input).value.strip()
            if value:
                parameters[pname] = value
        expires_text = self.query_one("#expires", Input).value.strip() or "24h"
        try:
            expires = parse_duration(expires_text)
        except DurationError as exc:
            raise BackendError(str(exc)) from exc
        parameters = self.session.check_parameters(protocol, parameters)
        outputs = {}
        for output in self.protocols[protocol]:
            orgs = sorted(self.query_one(f"#out-{output}", SelectionList).selected)
            if orgs:
                outputs[output] = orgs
        runs_text = self.query_one("#runs", Input).value.strip() or "1"
        if not runs_text.isdigit() or int(runs_text) < 1:
            raise BackendError(f"runs allowed {runs_text!r} is not a positive whole number")
        chosen = self.query_one("#dealer", Select).value
        dealer = chosen if isinstance(chosen, str) else None
        return Draft(protocol, inputs, parameters, outputs, expires, expires_text,
                     int(runs_text), dealer)

    def _check_step(self) -> bool:
        """Say what is missing on the current step before moving on (the contract decides the
        rest on submit)."""
        name = STEPS[self.step]
        try:
            draft = self._draft() if name in ("parameters", "limits", "review") else None
        except BackendError as exc:
            self.notify(str(exc), severity="error")
            return False
        if name == "protocol" and not isinstance(
            self.query_one("#protocol-select", Select).value, str
        ):
            self.notify("choose a protocol", severity="warning")
            return False
        if name == "inputs" and not self.query_one("#input-list", SelectionList).selected:
            self.notify("pick at least one input column", severity="warning")
            return False
        if name == "outputs":
            try:
                draft = self._draft()
            except BackendError as exc:
                self.notify(str(exc), severity="error")
                return False
            if not draft.outputs:
                self.notify("name a recipient for at least one output", severity="warning")
                return False
        return True

    def _go(self, step: int) -> None:
        self.step = max(0, min(step, len(STEPS) - 1))
        name = STEPS[self.step]
        self.query_one("#steps", ContentSwitcher).current = name
        self.query_one("#step-title", Label).update(TITLES[name])
        self.query_one("#submit", Button).disabled = name != "review"
        self.query_one("#next", Button).disabled = name == "review"
        if name == "review":
            self._review()
        self.call_after_refresh(self._focus_step, name)

    def _focus_step(self, name: str) -> None:
        """Put the cursor in the step just shown (its first field), so keys go there."""
        for widget in self.query_one(f"#{name}").query("*"):
            if widget.focusable:
                widget.focus()
                return
        self.query_one("#submit" if name == "review" else "#next", Button).focus()

    def _review(self) -> None:
        try:
            draft = self._draft()
        except BackendError as exc:
            self.notify(str(exc), severity="error")
            return
        catalog = {d.id: d for d in self.datasets}
        pinned = []
        for ref in draft.inputs:
            dataset_id, _, column = ref.partition(":")
            d = catalog[dataset_id]
            pinned.append(
                JobInput(ref=ref, owner=d.owner, dataset=d.id, column=column, version=d.version,
                         fingerprint=d.fingerprint)
            )
        self.query_one("#review-body", Static).update(
            authorization_table(
                protocol=draft.protocol,
                requester=self.session.org,
                parameters=draft.parameters,
                inputs=pinned,
                outputs=draft.outputs,
                dealer=draft.dealer,
                expires=f"{draft.expires_text} after the request commits",
                max_runs=draft.max_runs,
            )
        )

    @on(Button.Pressed, "#next")
    def action_next(self) -> None:
        if self._check_step():
            self._go(self.step + 1)

    @on(Button.Pressed, "#prev")
    def action_previous(self) -> None:
        self._go(self.step - 1)

    def action_back(self) -> None:
        self.app.pop_screen()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "submit" and STEPS[self.step] != "review":
            return None
        return super().check_action(action, parameters)

    @on(Button.Pressed, "#submit")
    def action_submit(self) -> None:
        try:
            draft = self._draft()
        except BackendError as exc:
            self.notify(str(exc), severity="error")
            return
        self.query_one("#submit", Button).disabled = True

        def submitted(job: Any) -> None:
            from tui.screens.job_detail import JobDetailScreen

            self.app.switch_screen(JobDetailScreen(job.id))

        def failed() -> None:
            self.query_one("#submit", Button).disabled = False

        self.act(
            lambda: self.session.request_job(
                draft.protocol, draft.inputs, draft.parameters, draft.outputs,
                draft.expires_in_seconds, draft.max_runs, draft.dealer,
            ),
            lambda j: f"requested {j.id}: {j.state.value}",
            submitted,
            failed,
        )
