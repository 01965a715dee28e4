"""What every screen of the app shares: header, ledger banner, footer, loading in a worker,
reloading when a chaincode event commits, and mapping errors to what the user reads."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from textual import work
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer, Header

from tui.backend import BackendError, LedgerUnreachable, Session
from tui.widgets.banner import LedgerBanner

if TYPE_CHECKING:
    from tui.app import AllianceApp

WRITE_ACTIONS: frozenset[str] = frozenset(
    {
        "approve",
        "reject",
        "revoke",
        "vote_yes",
        "vote_no",
        "vote",
        "vote_job",
        "propose",
        "register",
        "retire",
        "new_version",
        "new_job",
        "submit",
    }
)
"""Actions that sign a transaction: absent (not merely refused) for a read-only identity."""


class AllianceScreen(Screen[None]):
    """A screen that loads its data from the ledger in a thread worker and shows it."""

    def compose(self) -> ComposeResult:
        yield Header()
        yield LedgerBanner()
        yield from self.compose_body()
        yield Footer()

    def compose_body(self) -> ComposeResult:
        yield from ()

    @property
    def alliance(self) -> AllianceApp:
        return self.app  # type: ignore[return-value]

    @property
    def session(self) -> Session:
        return self.alliance.session

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return not (action in WRITE_ACTIONS and self.alliance.read_only)

    # ---- loading -------------------------------------------------------------------------------

    def on_mount(self) -> None:
        self.reload()

    def on_screen_resume(self) -> None:
        if self.is_mounted:
            self.reload()

    def ledger_changed(self, events: list[Any] | None) -> None:
        """Chaincode events committed (None: the ledger came back, anything may have changed):
        read again. Events are hints; what is shown is always read from the ledger."""
        self.reload()

    def reload(self) -> None:
        self._load()

    @work(thread=True, exclusive=True, group="load")
    def _load(self) -> None:
        try:
            data = self.fetch()
        except BackendError as exc:
            self.app.call_from_thread(self.show_error, exc)
            return
        self.app.call_from_thread(self.show, data)

    def fetch(self) -> Any:
        """Read what the screen shows (runs in a thread)."""
        return None

    def show(self, data: Any) -> None:
        """Put fetched data on screen (runs on the UI thread)."""

    def show_error(self, exc: BaseException) -> None:
        if isinstance(exc, LedgerUnreachable):
            self.alliance.ledger_down(str(exc))
        else:
            self.notify(str(exc), severity="error", timeout=8)

    # ---- acting --------------------------------------------------------------------------------

    def act(
        self,
        call: Callable[[], Any],
        done: str | Callable[[Any], str],
        then: Callable[[Any], None] | None = None,
        failed: Callable[[], None] | None = None,
    ) -> None:
        """Sign and submit in a worker; say what happened, or show the contract's reason."""
        self._act(call, done, then, failed)

    @work(thread=True, group="act")
    def _act(
        self,
        call: Callable[[], Any],
        done: str | Callable[[Any], str],
        then: Callable[[Any], None] | None,
        failed: Callable[[], None] | None,
    ) -> None:
        try:
            result = call()
        except BackendError as exc:
            self.app.call_from_thread(self.show_error, exc)
            if failed is not None:
                self.app.call_from_thread(failed)
            return
        message = done(result) if callable(done) else done
        self.app.call_from_thread(self.notify, message, timeout=6)
        if then is not None:
            self.app.call_from_thread(then, result)
        self.app.call_from_thread(self.reload)
