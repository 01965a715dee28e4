"""Printing the demo for people: one line per step as it happens, then result and audit trail."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.table import Table

from alliance.cli.demo.flow import DemoFlow, Step


class Reporter:
    def __init__(self, quiet: bool = False) -> None:
        self.console = Console()
        self.quiet = quiet
        self.started = time.monotonic()
        if not quiet:
            self.console.rule("[bold]alliance demo")

    def step(self, step: Step) -> None:
        if self.quiet:
            return
        mark = "[green]✓[/]" if step.ok else "[red]✗[/]"
        elapsed = time.monotonic() - self.started
        self.console.print(f"{mark} [dim]{elapsed:5.1f}s[/] [bold]{step.title}[/]")
        if step.detail:
            self.console.print(f"          {step.detail}", highlight=False)

    def finish(self, flow: DemoFlow, ok: bool, seconds: float, kept: bool) -> None:
        result = flow.summary.get("result")
        if result:
            table = Table(title="Secure result next to the clear figure", title_justify="left")
            table.add_column("computed")
            table.add_column("value", justify="right")
            table.add_row("securely (MPC, at telecom)", result["secure"])
            table.add_row("in the clear (demo owns all data)", result["clear"])
            table.add_row("digest on the ledger", result["digest"])
            self.console.print(table)
        trail: list[dict[str, Any]] = flow.summary.get("trail") or []
        if trail:
            table = Table(title=f"Regulator's trail of {flow.summary['job']}", title_justify="left")
            for column in ("block", "tx", "time", "action", "signed by", "state"):
                table.add_column(column)
            for row in trail:
                table.add_row(
                    str(row["block"]),
                    row["tx_id"][:16] + "…",
                    time.strftime("%H:%M:%S", time.gmtime(row["timestamp"])),
                    row["action"],
                    row["signer"].split(" ")[0],
                    row["state"],
                )
            self.console.print(table)
        where = f"; network kept in {flow.net_dir}" if kept else ""
        if ok:
            self.console.print(f"[green bold]all steps happened as shown[/] in {seconds} s{where}")
        else:
            failed = next((s for s in flow.steps if not s.ok), None)
            what = f"{failed.title}: {failed.detail}" if failed else "the demo stopped early"
            self.console.print(f"[red bold]the demo did not go as shown[/] — {what}{where}")
