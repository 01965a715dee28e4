"""Printing the demo for people: one line per step as it happens, then result and audit trail."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.table import Table

from alliance.cli.demo.flow import DemoFlow, Step


class Reporter:
    def __init__(self, quiet: bool = False, plots: bool = True) -> None:
        self.console = Console()
        self.quiet = quiet
        self.plots = plots
        """Draw a step's evaluation charts (its data `curves`) under it."""
        self.started = time.monotonic()
        self._status: Any = None
        if not quiet:
            self.console.rule("[bold]alliance demo")

    def begin(self, text: str) -> None:
        """A spinner with what is going on, until the next step is shown (terminals only)."""
        if self.quiet or not self.console.is_terminal:
            return
        self._stop_status()
        self._status = self.console.status(text)
        self._status.start()

    def close(self) -> None:
        """Take the spinner down (an interrupted demo ends without `finish`)."""
        self._stop_status()

    def _stop_status(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None

    def step(self, step: Step) -> None:
        self._stop_status()
        if self.quiet:
            return
        mark = "[green]✓[/]" if step.ok else "[red]✗[/]"
        elapsed = time.monotonic() - self.started
        self.console.print(f"{mark} [dim]{elapsed:5.1f}s[/] [bold]{step.title}[/]")
        if step.detail:
            self.console.print(f"          {step.detail}", highlight=False)
        if self.plots and step.data.get("curves"):
            from alliance.cli.output import emit_charts

            emit_charts(step.data["curves"])

    def finish(self, flow: DemoFlow, ok: bool, seconds: float, kept: bool,
               next_steps: list[str] | None = None) -> None:
        self._stop_status()
        result = flow.summary.get("result")
        if result:
            table = Table(title="Secure result next to the clear figure", title_justify="left")
            table.add_column("computed")
            table.add_column("value", justify="right")
            table.add_row("securely (MPC, at telecom)", result["secure"])
            table.add_row("in the clear (demo owns all data)", result["clear"])
            table.add_row("digest on the ledger", result["digest"])
            self.console.print(table)
        lookups: list[dict[str, Any]] = flow.summary.get("lookups") or []
        if lookups:
            self._lookups(lookups)
        trail: list[dict[str, Any]] = flow.summary.get("trail") or []
        if trail:
            from alliance.cli.output import emit_table

            emit_table(
                f"Regulator's trail of {flow.summary['job']}",
                ("block", "tx", "time", "action", "signed by", "state"),
                (
                    (
                        row["block"],
                        row["tx_id"],
                        time.strftime("%H:%M:%S", time.localtime(row["timestamp"])),
                        row["action"],
                        row["signer"].split(" ")[0],
                        row["state"],
                    )
                    for row in trail
                ),
                keep=("tx",),
            )
        where = f"; network kept in {flow.net_dir}" if kept else ""
        if ok:
            self.console.print(f"[green bold]all steps happened as shown[/] in {seconds} s{where}")
            if next_steps:
                self.console.print("to go on:")
            for line in next_steps or ():
                self.console.print(f"  {line}", highlight=False, soft_wrap=True)
        else:
            failed = next((s for s in flow.steps if not s.ok), None)
            what = f"{failed.title}: {failed.detail}" if failed else "the demo stopped early"
            self.console.print(f"[red bold]the demo did not go as shown[/] — {what}{where}")

    def _lookups(self, rows: list[dict[str, Any]]) -> None:
        """Each lookup's answer, and whether it equals the other lenders' books summed in the
        clear."""
        from alliance.app.query import amount_text

        table = Table(title="Exposure across the other lenders, as the platform learned it",
                      title_justify="left")
        table.add_column("applicant")
        for name in ("loans", "lenders", "outstanding", "7 d", "30 d"):
            table.add_column(name, justify="right")
        table.add_column("in the clear")
        for row in rows:
            got = row["secure"]
            table.add_row(row["applicant"], str(got["active_loans"]),
                          str(got["distinct_lenders"]), amount_text(got["outstanding_cents"]),
                          str(got["applications_7d"]), str(got["applications_30d"]),
                          "the same" if got == row["clear"] else "[red]differs[/]")
        self.console.print(table)
        self.console.print("[dim]7 d, 30 d: applications in the last 7 and 30 days; the "
                           "lookups' kept records: `alliance query records`[/]")
