"""`AllianceApp`: the governance terminal UI. One session (ORG as USER) on the ledger, seven
screens as modes (six of governance, one of the multi-lender query service), a live feed of
chaincode events, and a banner while the ledger is away.

Live refresh is driven by the ledger's chaincode-event stream (resumed from the last event seen
after a reconnect, as a node's listener does): no polling loop.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any, ClassVar

from textual import work
from textual.app import App, ScreenStackError
from textual.binding import Binding, BindingType
from textual.reactive import reactive
from textual.worker import get_current_worker

from tui.backend import BackendError, Session
from tui.commands import AllianceCommands
from tui.format import clock_time, event_line, now
from tui.screens.audit import AuditScreen
from tui.screens.base import AllianceScreen
from tui.screens.datasets import DatasetsScreen
from tui.screens.help import HelpScreen
from tui.screens.identity import IdentityScreen
from tui.screens.jobs import JobsScreen
from tui.screens.members import MembersScreen
from tui.screens.modals import VerifyForm
from tui.screens.overview import OverviewScreen
from tui.screens.query import QueryScreen

FEED_LINES = 200
RETRY_SECONDS = (0.5, 1.0, 2.0, 4.0)
REFRESH_DELAY = 0.03
"""Events that commit together (one block's, delivered back to back) refresh the screen once."""


class AllianceApp(App[None]):
    TITLE = "Alliance"
    CSS_PATH = "app.tcss"
    COMMANDS = App.COMMANDS | {AllianceCommands}
    MODES: ClassVar[dict[str, Any]] = {
        "overview": OverviewScreen,
        "jobs": JobsScreen,
        "datasets": DatasetsScreen,
        "members": MembersScreen,
        "audit": AuditScreen,
        "identity": IdentityScreen,
        "query": QueryScreen,
    }
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit", id="app.quit"),
        Binding("question_mark", "help", "Help", id="app.help"),
        Binding("1", "switch_mode('overview')", "Overview", show=False, id="app.overview"),
        Binding("2", "switch_mode('jobs')", "Jobs", show=False, id="app.jobs"),
        Binding("3", "switch_mode('datasets')", "Datasets", show=False, id="app.datasets"),
        Binding("4", "switch_mode('members')", "Members", show=False, id="app.members"),
        Binding("5", "switch_mode('audit')", "Audit", show=False, id="app.audit"),
        Binding("6", "switch_mode('identity')", "Identity", show=False, id="app.identity"),
        Binding("7", "switch_mode('query')", "Multi-lender query", show=False, id="app.query"),
        Binding("w", "new_job", "New job", show=False, id="app.new_job"),
    ]

    ledger_problem: reactive[str] = reactive("")
    """Why the ledger cannot be reached now ("" while it answers)."""
    read_only: reactive[bool] = reactive(True)
    """True for an auditor (and until the ledger has said who this org is)."""
    height: reactive[int] = reactive(0)
    identity_known: reactive[bool] = reactive(False)
    """The ledger has answered once: `read_only` is what the ledger says, not the default."""

    def __init__(self, session: Session, *, watch_events: bool = True) -> None:
        super().__init__()
        self.session = session
        self.watch_events = watch_events
        self.feed: deque[str] = deque(maxlen=FEED_LINES)
        self.events_seen = 0
        self._stream: Any = None
        self._refresh_timer: Any = None
        self._unseen: list[Any] = []
        """Events committed since the shown screen last heard of them."""
        self.sub_title = f"{session.org} as {session.user}"

    # ---- lifecycle -----------------------------------------------------------------------------

    def on_mount(self) -> None:
        self.switch_mode("overview")
        if self.watch_events:
            self.watch_ledger()
        else:
            self._identify()

    @work(thread=True, group="ledger", exit_on_error=False)
    def _identify(self) -> None:
        """Without the event stream: ask the ledger once who this org is."""
        try:
            height, read_only = self.session.height(), self.session.read_only
        except Exception as exc:
            self.call_from_thread(self.ledger_down, _problem(exc))
            return
        self.call_from_thread(self._ledger_up, height, read_only)

    def on_unmount(self) -> None:
        self._close_stream()
        self.session.close()

    def _close_stream(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.close()

    async def action_quit(self) -> None:
        self._close_stream()
        self.exit()

    def watch_read_only(self) -> None:
        screen = self._current_screen()
        if screen is not None:
            screen.refresh_bindings()

    def _current_screen(self) -> Any:
        """The screen shown, or None while the app starts or shuts down."""
        try:
            return self.screen
        except ScreenStackError:
            return None

    # ---- the ledger's events -------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="ledger", exit_on_error=False)
    def watch_ledger(self) -> None:
        """Follow chaincode events; on a broken stream show the banner, reconnect, resume from
        the last event seen."""
        worker = get_current_worker()
        block: int | None = None
        tx_id = ""
        attempt = 0
        while not worker.is_cancelled:
            try:
                if attempt:
                    self.session.reconnect()
                height = self.session.height()
                read_only = self.session.read_only
                if block is None:
                    block = height
                self.call_from_thread(self._ledger_up, height, read_only)
                attempt = 0
                stream = self.session.events(block, tx_id)
                self._stream = stream
                if worker.is_cancelled:
                    stream.close()
                    return
                for event in stream:
                    block, tx_id = event.block_number, event.tx_id
                    self.call_from_thread(self._on_event, event)
                if worker.is_cancelled or self._stream is None:
                    return
                raise BackendError("the event stream ended")
            except Exception as exc:  # the ledger went away: banner, wait, reconnect
                if worker.is_cancelled or (self._stream is None and attempt < 0):
                    return
                self.call_from_thread(self.ledger_down, _problem(exc))
                time.sleep(RETRY_SECONDS[min(attempt, len(RETRY_SECONDS) - 1)])
                attempt += 1

    def _ledger_up(self, height: int, read_only: bool) -> None:
        was_down = bool(self.ledger_problem)
        self.ledger_problem = ""
        self.read_only = read_only
        self.identity_known = True
        self.height = max(self.height, height)
        if was_down:
            self.notify("the ledger is back")
            self._refresh_screen(everything=True)

    def ledger_down(self, problem: str) -> None:
        self.ledger_problem = problem

    def _on_event(self, event: Any) -> None:
        self.events_seen += 1
        self.height = max(self.height, event.block_number + 1)
        line = (
            f"{clock_time(now())} #{event.block_number} "
            f"{event_line(event.event_name, event.payload)}"
        )
        self.feed.append(line)
        for screen in self.screen_stack:
            if isinstance(screen, OverviewScreen) and screen.is_mounted:
                screen.feed_line(line)
        self._unseen.append(event)
        if self._refresh_timer is None:
            self._refresh_timer = self.set_timer(REFRESH_DELAY, self._refresh_screen)

    def _refresh_screen(self, everything: bool = False) -> None:
        self._refresh_timer = None
        events, self._unseen = self._unseen, []
        screen = self._current_screen()
        if isinstance(screen, AllianceScreen):
            screen.ledger_changed(None if everything else events)

    # ---- navigation ----------------------------------------------------------------------------

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.screen.active_bindings))

    def open_job(self, job_id: str) -> None:
        from tui.screens.job_detail import JobDetailScreen

        self.push_screen(JobDetailScreen(job_id))

    def push_screen_dataset(self, dataset_id: str) -> None:
        from tui.screens.dataset_detail import DatasetDetailScreen

        self.push_screen(DatasetDetailScreen(dataset_id))

    def open_proposal(self, proposal_id: str) -> None:
        self.switch_mode("members")
        screen = self.screen
        if isinstance(screen, MembersScreen):
            self.call_after_refresh(screen.select_proposal, proposal_id)

    def open_trail(self, kind: str, key: str) -> None:
        self.switch_mode("audit")
        screen = self.get_screen_stack_top("audit")
        if isinstance(screen, AuditScreen):
            screen.set_subject(kind, key)

    def get_screen_stack_top(self, mode: str) -> Any:
        stack = self._screen_stacks.get(mode) or []
        return stack[-1] if stack else None

    def action_new_job(self) -> None:
        if self.read_only:
            return
        from tui.screens.wizard import WizardScreen

        self.push_screen(WizardScreen())

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return not (action == "new_job" and self.read_only)

    # ---- checks --------------------------------------------------------------------------------

    def verify(self, form: VerifyForm) -> None:
        self._verify(form)

    @work(thread=True, group="verify")
    def _verify(self, form: VerifyForm) -> None:
        from pathlib import Path

        try:
            v = self.session.verify_file(form.job_id, form.output, Path(form.path))
        except BackendError as exc:
            self.call_from_thread(self.notify, str(exc), severity="error", timeout=8)
            return
        verdict = "MATCHES" if v.matches else "DOES NOT MATCH"
        self.call_from_thread(
            self.notify,
            f"{form.path} {verdict} the digest recorded for {v.output} of {v.job_id} run "
            f"{v.run} ({v.recorded})",
            severity="information" if v.matches else "error",
            timeout=12,
        )


def _problem(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:200]
