"""Multi-lender query: the standing service job's terms and the two query servers; a lookup
(applicant, purpose, consent document) answered by both servers; this member's kept lookups and
the servers' committed period summaries; pushing a loan-events file.

Everything goes through the application layer the `alliance query` commands use, in workers;
while the screen is shown the servers' state is asked again every SERVERS_REFRESH_SECONDS. With
no approved service job the lookup and feed forms give way to what a member runs next.
The applicant id is shown only with its answer, until the next lookup, `esc` or leaving the
screen: it is never put in a notification, a worker's description or a table, and nothing here
writes it anywhere (the asker's kept record holds no applicant id, as with the CLI).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
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
from textual.timer import Timer
from textual.widgets import Button, Input, Label, Select, Static

from alliance.protocols.multilender import FIELDS, ServiceTerms
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
SERVICE_ACTIONS = frozenset({"focus_lookup", "lookup", "focus_feed", "feed"})
"""Actions that need an approved service job (without one the servers answer nothing)."""
ASKING_ACTIONS = frozenset({"focus_lookup", "lookup"})
"""Actions only a member the job lets ask has (never a server's member; the service text says
why another may not)."""
NO_JOB = "no multilender service job is approved on the ledger"
SERVERS_REFRESH_SECONDS = 10.0
"""How often the servers' state is asked again while the screen is shown."""
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
        self._no_service = False
        """The last read found no approved service job (unknown until the first read)."""
        self._may_ask = True
        """The job lets this member ask (else no lookup form: the service text says why)."""
        self._reading_servers = False
        self._servers_timer: Timer | None = None
        self._purposes: list[str] | None = None

    def compose_body(self) -> ComposeResult:
        with VerticalScroll(id="query-body"):
            yield Label("Service", classes="section")
            yield Static("reading the service job from the ledger…", id="service")
            servers: MeasuredTable = MeasuredTable(cursor_type="none", id="servers")
            servers.add_columns("server", "role", "state", "address", "newest table",
                                "enforces")
            yield servers
            yield Static(READ_ONLY_NOTE, id="read-only-note", classes="note")
            yield Static(id="no-service-note", classes="note")
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
        self._servers_timer = self.set_interval(SERVERS_REFRESH_SECONDS, self.refresh_servers)
        super().on_mount()

    def _role(self, read_only: bool) -> None:
        try:
            serviced = not (read_only or self._no_service)
            self.query_one("#lookup-box").display = serviced and self._may_ask
            self.query_one("#feed-box").display = serviced
            self.query_one("#records-box").display = not read_only
            self.query_one("#no-service-note").display = self._no_service and not read_only
            self.query_one("#read-only-note").display = (read_only
                                                         and self.alliance.identity_known)
        except NoMatches:  # the app is closing: the screen's widgets are gone
            return

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in MEMBER_ACTIONS and self.alliance.read_only:
            return False
        if action in SERVICE_ACTIONS and self._no_service:
            return False
        if action in ASKING_ACTIONS and not self._may_ask:
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
        self._show_state(data.state)
        self.query_one("#records", FilterTable).set_rows(
            [(r["record"], (r["record"], short_time(r["at"]),
                            r["purpose"] if r.get("answered", True)
                            else f"{r['purpose']} (not answered: {r.get('failed')})",
                            r["job_id"]))
             for r in data.records])
        self.query_one("#summaries-note", Static).update(summaries_note(data.state,
                                                                        data.summaries))
        self._summaries = {summary_key(s): s for s in data.summaries}
        self.query_one("#summaries", FilterTable).set_rows(
            [(summary_key(s), summary_row(s))
             for s in sorted(data.summaries, key=lambda s: (-s["period_start"], s["server"]))])

    def _show_state(self, state: ServiceState) -> None:
        """The service, the servers and what this member may do (from a full read or the
        servers' periodic one)."""
        if state.terms is None and not self._no_service:
            self._wipe_answer()  # the job is gone: the form and its answer are hidden, not kept
        self._no_service = state.terms is None
        self._may_ask = state.terms is None or state.may_ask
        self._role(self.alliance.read_only)
        self.refresh_bindings()
        self.query_one("#service", Static).update(
            service_text(state, advise=self.alliance.read_only))
        self.query_one("#no-service-note", Static).update(no_service_note(state))
        self._show_servers(state)
        self._show_purposes(state)
        records = self._data.records if self._data is not None else []
        self.query_one("#records-note", Static).update(records_note(state, records))

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
        """The job's purposes to choose from; left as they are when unchanged (the servers'
        periodic read must not reset a choice being made)."""
        select: Select[str] = self.query_one("#purpose", Select)
        purposes = sorted(state.terms.purposes) if state.terms else []
        if purposes == self._purposes:
            return
        self._purposes = purposes
        current = select.value
        select.set_options([(p, p) for p in purposes])
        if current in purposes:
            select.value = current
        elif len(purposes) == 1:
            select.value = purposes[0]

    def on_screen_suspend(self) -> None:
        """Leaving for another screen (not a dialog over this one) wipes the applicant; hidden,
        the screen stops asking the servers."""
        if self._servers_timer is not None:
            self._servers_timer.pause()
        if self.app.current_mode != "query":
            self.action_clear()

    def on_screen_resume(self) -> None:
        if self._servers_timer is not None:
            self._servers_timer.resume()
        super().on_screen_resume()

    # ---- the servers' state, asked again while the screen is shown -----------------------------

    def refresh_servers(self) -> None:
        """The timer's tick: ask the servers' state in a worker, unless the screen is hidden, has
        not shown its first read, or a read is still under way (ticks never stack)."""
        if not self.is_current or self._data is None or self._reading_servers or self._loading():
            return
        self._reading_servers = True
        self._read_servers()

    def _loading(self) -> bool:
        return any(w.node is self and w.group == "load" and not w.is_finished
                   for w in self.workers)

    @work(thread=True, group="servers", description="the query servers' state")
    def _read_servers(self) -> None:
        try:
            state = self.session.query_service(now())
        except BackendError as exc:
            self.app.call_from_thread(self._servers_failed, exc)
            return
        self.app.call_from_thread(self._servers_read, state)

    def _servers_read(self, state: ServiceState) -> None:
        self._reading_servers = False
        if self._data is None:
            return
        before = self._data.state.terms
        self._data = replace(self._data, state=state)
        try:
            self._show_state(state)
        except NoMatches:  # the app closed while the servers were asked
            return
        if job_of(before) != job_of(state.terms):  # the summaries shown are another job's
            self.reload()

    def _servers_failed(self, exc: BaseException) -> None:
        """A tick's failure: the ledger down shows in the banner; anything else waits for the
        next full read to be said (not a notification every tick)."""
        self._reading_servers = False
        if isinstance(exc, LedgerUnreachable):
            self.show_error(exc)

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
        if self.alliance.read_only or self._no_service or not self._may_ask or self._asking:
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
        self._wipe_answer()
        self.query_one("#query-body", VerticalScroll).focus()

    def _wipe_answer(self) -> None:
        self.query_one("#applicant", Input).value = ""
        self.query_one("#answer", Static).update("")

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
        if self.alliance.read_only or self._no_service:
            return
        text = self.query_one("#events-file", Input).value.strip()
        self.query_one("#send", Button).disabled = True
        self.query_one("#feed-outcome", Static).update(Text(
            f"sending {text or 'the current book'} to both servers…", style="italic"))
        self._feed(Path(text) if text else None)

    @work(thread=True, exclusive=True, group="feed")
    def _feed(self, path: Path | None) -> None:
        try:
            report = self.session.feed_events(
                path, lambda task: self.app.call_from_thread(self._feeding, task))
        except BackendError as exc:
            self.app.call_from_thread(self._fed, None, exc)
            return
        self.app.call_from_thread(self._fed, report, None)

    def _feeding(self, task: str) -> None:
        self.query_one("#feed-outcome", Static).update(Text(f"{task}…", style="italic"))

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


def service_text(state: ServiceState, advise: bool = True) -> Text:
    """The service job's terms, in three lines; or why there is none and (`advise`: unless the
    no-service note in place of the forms says it) what to do."""
    terms = state.terms
    if terms is None and not advise:
        return Text(NO_JOB + ("" if state.servers else " (the charter names no query servers "
                              "yet)"), style="bold yellow")
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
        text.append(f"{org} may ask: {quota_use(state)}")
    elif org in terms.servers:
        text.append(f"{org} runs query server {'A' if org == a else 'B'} and may not ask (a "
                    "server holds the masked table; an answer's masks would show it each "
                    "member's record)", style="yellow")
    else:
        text.append(f"{org} may not ask (the job's members: "
                    f"{', '.join(sorted(terms.members))})", style="yellow")
    text.append(" · " + ("contributes its loan events" if state.contributes
                         else "contributes no events"))
    return text


def quota_use(state: ServiceState) -> str:
    """This org's lookups today against its quota as the servers count them (each checks the
    quota on its own count); when they could not be asked, what this node kept, labelled so."""
    counts = state.counted_today
    if len(counts) == len(state.servers) == 2 and len(set(counts.values())) == 1:
        return (f"{next(iter(counts.values()))} of {state.quota} lookups today (UTC), as both "
                "servers count them")
    each = f"{state.quota} lookups a day (UTC, each server); used today: "
    if counts:
        return each + ", ".join(f"{n} by {org}'s count" for org, n in counts.items())
    return each + f"not known, the servers could not be asked (this node kept {state.kept_today})"


def no_service_note(state: ServiceState) -> str:
    """In place of the lookup and feed forms when no service job is approved: what a member
    runs next (naming the charter's query servers when it names them)."""
    missing = ("There is no approved multilender service job, so nothing can be looked up or "
               "fed here: ")
    if len(state.servers) != 2:
        return missing + ("first the members name the two query servers (`alliance member "
                          "propose --query-servers A,B --reason TEXT` and a vote), then a member "
                          "requests the job with `alliance job request --protocol multilender "
                          "...`.")
    a, b = (s.org for s in state.servers)
    return missing + (f"a member requests one with `alliance job request --protocol multilender "
                      f"--param server_a={a} --param server_b={b} ...` (every parameter: "
                      "`alliance job request --help`) and every contributing member approves "
                      "it with `alliance job approve JOB`.")


def job_of(terms: ServiceTerms | None) -> str | None:
    return terms.job_id if terms is not None else None


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
    """The lookups this node kept (the ones made here; the servers count all of this org's)."""
    if not records:
        return "none kept here"
    return (f"{len(records)} kept here ({state.kept_today} today); prove one was made with "
            f"consent: `{AUDIT_COMMAND.format(record='RECORD')}`")


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
    for key, value in answer.shown().items():
        table.add_row(key, value)
    note = Text(f"note: {answer.note()}\n" if answer.note() else "", style="yellow")
    hint = Text(f"prove its consent later: `{AUDIT_COMMAND.format(record=answer.record)}`"
                " · esc: clear", style="dim")
    return Group(title, table, note, hint)


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
