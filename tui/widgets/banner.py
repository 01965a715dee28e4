"""The red line at the top of every screen while the ledger cannot be reached."""

from __future__ import annotations

from textual.widgets import Static


class LedgerBanner(Static):
    """Hidden while the ledger answers; shows why and that the app is reconnecting otherwise."""

    DEFAULT_CSS = """
    LedgerBanner { display: none; height: auto; background: $error; color: $text; padding: 0 1; }
    LedgerBanner.down { display: block; }
    """

    def on_mount(self) -> None:
        self.watch(self.app, "ledger_problem", self._show, init=True)

    def _show(self, problem: str) -> None:
        self.set_class(bool(problem), "down")
        if problem:
            self.update(f"LEDGER UNREACHABLE — reconnecting… ({problem})")
