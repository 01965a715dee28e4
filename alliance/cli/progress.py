"""Progress on stderr while a long use case runs (rich): a spinner and what is going on, with a
count when the use case reports one. Shown only on a terminal, so pipes and `--json` stay clean."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from alliance.app.progress import Progress as Report
from alliance.app.progress import ProgressFn


@contextmanager
def progress_display(quiet: bool = False) -> Iterator[ProgressFn]:
    console = Console(stderr=True)
    if quiet or not console.is_terminal:
        yield lambda report: None
        return
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[count]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("working", total=None, count="")

        def report(item: Report) -> None:
            # a step without a count (a push's, `network up`'s) shows none, not a stray 0
            count = f"{item.done:,.0f}" if item.done or item.total is not None else ""
            bar.update(task, description=item.task, completed=item.done, total=item.total,
                       count=count)

        yield report
