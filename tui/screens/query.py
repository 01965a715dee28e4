"""Multi-lender query: the standing service job's terms and the two query servers; a lookup
(applicant, purpose, consent document) answered by both servers; this member's kept lookups and
the servers' committed period summaries; pushing a loan-events file.

Everything goes through the application layer the `alliance query` commands use, in workers.
The applicant id is shown only with its answer, until the next lookup, `esc` or leaving the
screen: it is never put in a notification, a worker's description or a table, and nothing here
writes it anywhere (the asker's kept record holds no applicant id, as with the CLI).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.css.query import NoMatches
from textual.widgets import Button, Input, Label, Select, Static

from alliance.protocols.multilender import FIELDS
from tui.backend import (
    BackendError,
    LedgerRefused,
    LedgerUnreachable,
    LookupAnswer,
    ServerState,
    ServiceState,
    fed_summary,
)
from tui.format import clock_time, local_time, now, short_id, short_time
from tui.screens.base import AllianceScreen
from tui.widgets.filter_table import FilterTable, MeasuredTable

MEMBER_ACTIONS = frozenset({"focus_lookup", "lookup", "focus_feed", "feed", "copy", "clear"})
"""Actions an auditor does not have: looking an applicant up, pushing loan events (and the
record ids and answers that only an asker has)."""
AUDIT_COMMAND = "alliance query audit {record} --consent FILE"
READ_ONLY_NOTE = (
    "Read-only: an auditor neither looks applicants up nor pushes loan events. It checks a "
    "lookup's proof bundle (from the asker's `alliance query audit RECORD --consent FILE --json`) "
    "against the ledger with `alliance query verify --bundle FILE --consent FILE`."
)


@dataclass(frozen=True)
class QueryData:
    state: ServiceState
    records: list[dict[str, Any]]
    summaries: list[dict[str, Any]]


@dataclass(frozen=True)
class LookupForm:
    """What the lookup form holds; its repr leaves the applicant out (workers, logs)."""

    applicant: str = field(repr=False)
    purpose: str
    consent: str


class QueryScreen(AllianceScreen):
    TITLE = "Multi-lender query"

    BINDINGS = [
        Binding("l", "focus_lookup", "Look up", id="query.lookup"),
        Binding("e", "focus_feed", "Feed events", id="query.feed"),
        Binding("c", "copy", "Copy record id", id="query.copy"),
        Binding("r", "refresh", "Refresh servers", id="query.refresh"),
        Binding("escape", "clear", "Clear answer", id="query.clear"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._data: QueryData | None = None
        self._summaries: dict[str, dict[str, Any]] = {}
        self._asking = False

    def compose_body(self) -> ComposeResult:
        with VerticalScroll(id="query-body"):
            yield Label("Service", classes="section")
            yield Static("reading the service job from the ledger…", id="service")
            servers: MeasuredTable = MeasuredTable(cursor_type="none", id="servers")
            servers.add_columns("server", "role", "state", "address", "newest table",
                                "enforces")
            yield servers
            yield Static(READ_ONLY_NOTE, id="read-only-note", classes="note")
            with Vertical(id="lookup-box"):
                yield Label("Look up an applicant (enter: ask both servers)", classes="section")
                with Horizontal(id="lookup-form", classes="query-form"):
                    yield Input(placeholder="applicant id", id="applicant")
                    yield Select([], prompt="purpose", id="purpose")
                    yield Input(placeholder="consent file", id="consent")
                    yield Button("Look up", variant="primary", id="ask")
                yield Static(id="answer")
            with Vertical(id="records-box"):
                yield Label("My lookups (c or enter: copy the record id)", classes="section")
                yield Static(id="records-note", classes="note")
                yield FilterTable(("record", "time", "purpose", "job"), id="records")
            yield Label("Period summaries on the ledger (signed by each server; enter: all of one)",
                        classes="section")
            yield Static(id="summaries-note", classes="note")
            yield FilterTable(("server", "period", "entries", "counts", "merkle root"),
                              id="summaries")
            yield Static(id="summary-detail")
            with Vertical(id="feed-box"):
                yield Label("Feed loan events (CSV: kind,applicant_id,date,loan_id,amount_cents)",
                            classes="section")
                with Horizontal(id="feed-form", classes="query-form"):
                    yield Input(placeholder="events file (empty: re-share the current book)",
                                id="events-file")
                    yield Button("Send", id="send")
                yield Static(id="feed-outcome")

    # ---- who may act ---------------------------------------------------------------------------

    def on_mount(self) -> None:
        self.watch(self.app, "read_only", self._role, init=True)
        super().on_mount()

    def _role(self, read_only: bool) -> None:
        try:
            for box in ("#lookup-box", "#records-box", "#feed-box"):
                self.query_one(box).display = not read_only
            self.query_one("#read-only-note").display = (read_only
                                                         and self.alliance.identity_known)
        except NoMatches:  # the app is closing: the screen's widgets are gone
            return

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in MEMBER_ACTIONS and self.alliance.read_only:
            return False
        return super().check_action(action, parameters)

    # ---- loading -------------------------------------------------------------------------------

    def fetch(self) -> QueryData:
        s = self.session
        state = s.query_service(now())
        records = [] if s.read_only else s.query_records()
        summaries = s.query_summaries() if state.terms is not None else []
        return QueryData(state, records, summaries)

    def show(self, data: Any) -> None:
        assert isinstance(data, QueryData)
        try:
            self._show(data)
        except NoMatches:  # the app closed while the screen was reading
            return

    def _show(self, data: QueryData) -> None:
        self._data = data
        self._role(self.alliance.read_only)
        self.query_one("#service", Static).update(service_text(data.state))
        self._show_servers(data.state)
        self._show_purposes(data.state)
        self.query_one("#records-note", Static).update(records_note(data.state, data.records))
        self.query_one("#records", FilterTable).set_rows(
            [(r["record"], (r["record"], short_time(r["at"]), r["purpose"], r["job_id"]))
             for r in data.records])
        self.query_one("#summaries-note", Static).update(summaries_note(data.state,
                                                                        data.summaries))
        self._summaries = {summary_key(s): s for s in data.summaries}
        self.query_one("#summaries", FilterTable).set_rows(
            [(summary_key(s), summary_row(s))
             for s in sorted(data.summaries, key=lambda s: (-s["period_start"], s["server"]))])

    def _show_servers(self, state: ServiceState) -> None:
        table = self.query_one("#servers", MeasuredTable)
        table.clear()
        table.display = bool(state.servers)
        job = state.terms.job_id if state.terms else None
        for s in state.servers:
            running = Text("running", style="green") if s.running else Text(
                "not running", style="bold red")
            table.add_row(s.org, s.role or "—", running, s.address or "—", epoch_cell(s),
                          enforces_cell(s, job), key=s.org)

    def _show_purposes(self, state: ServiceState) -> None:
        select: Select[str] = self.query_one("#purpose", Select)
        purposes = sorted(state.terms.purposes) if state.terms else []
        current = select.value
        select.set_options([(p, p) for p in purposes])
        if current in purposes:
            select.value = current
        elif len(purposes) == 1:
            select.value = purposes[0]

    def on_screen_suspend(self) -> None:
        """Leaving for another screen (not a dialog over this one) wipes the applicant."""
        if self.app.current_mode != "query":
            self.action_clear()

    def action_refresh(self) -> None:
        self.query_one("#service", Static).update("asking the ledger and the query servers…")
        self.reload()

    # ---- lookup --------------------------------------------------------------------------------

    def action_focus_lookup(self) -> None:
        self.query_one("#applicant", Input).focus()

    @on(Input.Submitted, "#applicant")
    @on(Input.Submitted, "#consent")
    @on(Button.Pressed, "#ask")
    def action_lookup(self) -> None:
        if self.alliance.read_only or self._asking:
            return
        purpose = self.query_one("#purpose", Select).value
        form = LookupForm(self.query_one("#applicant", Input).value.strip(),
                          purpose if isinstance(purpose, str) else "",
                          self.query_one("#consent", Input).value.strip())
        missing = [name for name, value in (("the applicant id", form.applicant),
                                            ("a purpose", form.purpose),
                                            ("the consent document", form.consent)) if not value]
        if missing:
            self.notify(f"give {', '.join(missing)}", severity="warning")
            return
        self._asking = True
        self.query_one("#ask", Button).disabled = True
        self.query_one("#answer", Static).update(
            Text(f"asking both query servers (purpose {form.purpose})…", style="italic"))
        self._lookup(form)

    @work(thread=True, exclusive=True, group="lookup", description="lookup")
    def _lookup(self, form: LookupForm) -> None:
        try:
            answer = self.session.lookup(form.applicant, form.purpose, Path(form.consent))
        except BackendError as exc:
            self.app.call_from_thread(self._lookup_failed, exc)
            return
        self.app.call_from_thread(self._answered, answer)

    def _answered(self, answer: LookupAnswer) -> None:
        self._asking = False
        self.query_one("#ask", Button).disabled = False
        self.query_one("#applicant", Input).value = ""
        self.query_one("#answer", Static).update(answer_view(answer))
        self.call_after_refresh(self.query_one("#answer").scroll_visible)
        self.notify(f"answered (record {answer.record}, purpose {answer.purpose})", timeout=6)
        self.reload()

    def _lookup_failed(self, exc: BaseException) -> None:
        self._asking = False
        self.query_one("#ask", Button).disabled = False
        self.query_one("#answer", Static).update(failure_view(exc))
        self.call_after_refresh(self.query_one("#answer").scroll_visible)
        self.notify(failure_title(exc), severity="error", timeout=8)
        if isinstance(exc, LedgerUnreachable):
            self.reload()

    def action_clear(self) -> None:
        """Wipe the answer and the applicant id from the screen; leave the form for the page
        (the screen's keys work again, the arrows and page keys scroll)."""
        self.query_one("#applicant", Input).value = ""
        self.query_one("#answer", Static).update("")
        self.query_one("#query-body", VerticalScroll).focus()

    # ---- records -------------------------------------------------------------------------------

    def action_copy(self) -> None:
        key = self.query_one("#records", FilterTable).selected_key
        if not key:
            self.notify("select one of my lookups first", severity="warning")
            return
        self.app.copy_to_clipboard(key)
        self.notify(f"copied {key}: prove its consent with "
                    f"`{AUDIT_COMMAND.format(record=key)}`", timeout=10)

    @on(FilterTable.Chosen, "#records")
    def _record_chosen(self) -> None:
        self.action_copy()

    @on(FilterTable.Chosen, "#summaries")
    def _summary_chosen(self, event: FilterTable.Chosen) -> None:
        summary = self._summaries.get(event.key)
        if summary is not None:
            self.query_one("#summary-detail", Static).update(summary_detail(summary))

    # ---- events --------------------------------------------------------------------------------

    def action_focus_feed(self) -> None:
        self.query_one("#events-file", Input).focus()

    @on(Input.Submitted, "#events-file")
    @on(Button.Pressed, "#send")
    def action_feed(self) -> None:
        if self.alliance.read_only:
            return
        text = self.query_one("#events-file", Input).value.strip()
        self.query_one("#send", Button).disabled = True
        self.query_one("#feed-outcome", Static).update(Text(
            f"sending {text or 'the current book'} to both servers…", style="italic"))
        self._feed(Path(text) if text else None)

    @work(thread=True, exclusive=True, group="feed")
    def _feed(self, path: Path | None) -> None:
        try:
            report = self.session.feed_events(path)
        except BackendError as exc:
            self.app.call_from_thread(self._fed, None, exc)
            return
        self.app.call_from_thread(self._fed, report, None)

    def _fed(self, report: dict[str, Any] | None, exc: BaseException | None) -> None:
        self.query_one("#send", Button).disabled = False
        out = self.query_one("#feed-outcome", Static)
        if report is None:
            out.update(Text(f"NOT SENT: {exc}", style="bold red"))
            self.notify("the events were not sent", severity="error")
            return
        message = fed_summary(report)
        out.update(Text(message, style="green"))
        self.call_after_refresh(out.scroll_visible)
        self.notify(message, timeout=8)
        self.query_one("#events-file", Input).value = ""
        self.reload()


# ---- what the screen writes (pure) ----------------------------------------------------------


def service_text(state: ServiceState) -> Text:
    """The service job's terms, in three lines; or why there is none and what to do."""
    terms = state.terms
    if terms is None:
        text = Text(state.missing, style="bold yellow")
        if not state.servers:
            text.append("\nthe charter names no query servers yet: the members propose two with "
                        "`alliance member propose --query-servers A,B --reason TEXT` and vote")
        return text
    a, b = terms.servers
    text = Text()
    text.append(terms.job_id, style="bold")
    text.append(f" · servers {a} (A), {b} (B) · expires {local_time(terms.expires_at)}\n")
    answered = ("every field" if terms.fields == FIELDS
                else f"only {', '.join(terms.fields)}")
    text.append(f"purposes {', '.join(sorted(terms.purposes))} · answers {answered}\n")
    org = state.org
    if state.may_ask:
        text.append(f"{org} may ask: {state.used_today} of {state.quota} lookups today (UTC, "
                    "each server)")
    else:
        text.append(f"{org} may not ask (the job's members: "
                    f"{', '.join(sorted(terms.members))})", style="yellow")
    text.append(" · " + ("contributes its loan events" if state.contributes
                         else "contributes no events"))
    return text


def epoch_cell(s: ServerState) -> str:
    """When the newest table epoch the server holds was formed (an epoch is numbered by the
    millisecond it was formed at); "?" when the server could not be asked."""
    if s.epoch is None:
        return "?" if s.problem else ("none yet" if s.running else "—")
    return clock_time(s.epoch / 1000)


def enforces_cell(s: ServerState, job: str | None) -> str:
    """Which service job the server read from the ledger."""
    if s.epoch is None and not s.enforces:
        return "?" if s.running else "—"
    if s.enforces is None:
        return "no service job"
    return "this job" if s.enforces == job else s.enforces


def records_note(state: ServiceState, records: list[dict[str, Any]]) -> str:
    today = f"{state.used_today} today" + (f" of {state.quota}" if state.quota else "")
    if not records:
        return f"none kept here ({today})"
    return (f"{len(records)} kept here, {today}; prove one was made with consent: "
            f"`{AUDIT_COMMAND.format(record='RECORD')}`")


def summaries_note(state: ServiceState, summaries: list[dict[str, Any]]) -> str:
    if state.terms is None:
        return "none: there is no service job"
    every = _span(state.terms.period_seconds)
    if not summaries:
        return f"none committed yet (each server commits one for every {every} period)"
    return (f"{len(summaries)} committed, one per server and {every} period (`alliance query "
            "summaries`)")


def summary_key(s: dict[str, Any]) -> str:
    return f"{s['server']}:{s['period_start']}"


def summary_detail(s: dict[str, Any]) -> Table:
    """One committed summary whole, as the ledger holds it (`alliance query summaries`)."""
    t = Table.grid(padding=(0, 1))
    t.add_column(style="bold", no_wrap=True)
    t.add_column(overflow="fold")
    t.add_row("server", s["server"])
    t.add_row("period", f"{local_time(s['period_start'], seconds=True)} .. "
                        f"{local_time(s['period_end'], seconds=True)}")
    t.add_row("entries", str(s["entries"]))
    for name in ("counts", "purposes"):
        t.add_row(name, ", ".join(f"{k}={v}" for k, v in sorted(s[name].items())) or "none")
    for name in ("merkle_root", "signer", "tx_id"):
        t.add_row(name.replace("_", " "), str(s[name]))
    t.add_row("committed", local_time(s["at"], seconds=True))
    return t


def summary_row(s: dict[str, Any]) -> tuple[str, ...]:
    start = local_time(s["period_start"]).split(" (")[0]
    period = f"{start} +{_span(s['period_end'] - s['period_start'])}"
    counts = ", ".join(f"{k}={v}" for k, v in sorted(s["counts"].items())) or "none"
    return (s["server"], period, str(s["entries"]), counts, short_id(s["merkle_root"], 23))


def _span(seconds: int) -> str:
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"


def answer_view(answer: LookupAnswer) -> Group:
    """The answer as `alliance query lender` prints it, and how to audit it later."""
    title = Text(f"Applicant {answer.applicant} across the other members", style="bold")
    table = Table(show_header=False)
    table.add_column("field", style="bold", no_wrap=True)
    table.add_column("value", overflow="fold")
    for key, value in {**answer.aggregates, "epoch": answer.epoch,
                       "record": answer.record}.items():
        table.add_row(key, str(value))
    hint = Text(f"prove its consent later: `{AUDIT_COMMAND.format(record=answer.record)}`"
                " · esc: clear", style="dim")
    return Group(title, table, hint)


def failure_title(exc: BaseException) -> str:
    if isinstance(exc, LedgerRefused):
        return "the lookup was refused"
    if isinstance(exc, LedgerUnreachable):
        return "no answer: a query server or the ledger cannot be reached"
    return "the lookup was not made"


def failure_view(exc: BaseException) -> Text:
    """The application layer's message (what went wrong and what to do), headed by its kind."""
    text = Text(failure_title(exc).upper() + "\n", style="bold red")
    text.append(str(exc))
    return text
