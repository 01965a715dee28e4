"""Printing results: rich tables for people, canonical JSON for machines (`--json`).

Ids are never cut: columns that hold ids a user copies (jobs, transactions, datasets, paths) keep
their full width, in a pipe and at 80 columns alike; the other columns wrap instead. Errors go to
stderr, as JSON with `--json`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

_console = Console(soft_wrap=False)


def console() -> Console:
    return _console


def emit_charts(curves: dict[str, Any]) -> None:
    """An evaluation's ROC, KS and lift charts in the terminal's width (colour on a terminal
    unless NO_COLOR is set); plain text in a pipe."""
    import os

    from alliance.app.terminal_plots import evaluation_charts

    color = _console.is_terminal and not os.environ.get("NO_COLOR")
    sys.stdout.write(evaluation_charts(curves, _console.width, color=color) + "\n")
    sys.stdout.flush()


def emit_json(value: Any) -> None:
    sys.stdout.write(
        json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str) + "\n"
    )


def emit_table(
    title: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    keep: Sequence[str] = (),
) -> None:
    """A table; the columns named in `keep` (ids, paths) are never cut or folded."""
    cells = [["" if cell is None else str(cell) for cell in row] for row in rows]
    table = Table(title=title, title_justify="left", header_style="bold")
    for index, column in enumerate(columns):
        if column in keep:
            widest = max([len(column), *(len(row[index]) for row in cells)])
            table.add_column(column, no_wrap=True, min_width=widest, overflow="ignore")
        else:
            table.add_column(column, overflow="fold")
    for row in cells:
        table.add_row(*row)
    # wide enough for the kept columns whole and the others at up to 24 characters before they
    # wrap; wider than the terminal only when the kept columns need it
    needed = 1
    for index, column in enumerate(columns):
        natural = max([len(column), *(len(row[index]) for row in cells)])
        needed += 3 + (natural if column in keep else min(natural, 24))
    Console(soft_wrap=False, width=max(_console.width, needed)).print(table)


def emit_listing(
    as_json: bool,
    items: list[Any],
    title: str,
    columns: Sequence[str],
    row: Callable[[Any], Sequence[Any]],
    *,
    keep: Sequence[str] = (),
) -> None:
    """A list of objects: as JSON for machines, else one table row per item."""
    if as_json:
        emit_json(items)
    else:
        emit_table(title, columns, (row(item) for item in items), keep=keep)


def emit_fields(title: str, fields: dict[str, Any]) -> None:
    """Name/value pairs; a value without spaces (an id, a digest, a path) is never cut."""
    rows = []
    for key, value in fields.items():
        if isinstance(value, (dict, list)):
            value = json.dumps(value, sort_keys=True, ensure_ascii=False)
        rows.append((key, "" if value is None else str(value)))
    whole = max([0, *(len(v) for _, v in rows if " " not in v)])
    keys = max([0, *(len(k) for k, _ in rows)])
    table = Table(title=title, title_justify="left", show_header=False)
    table.add_column("field", style="bold", no_wrap=True, min_width=keys)
    table.add_column("value", overflow="fold", min_width=whole)
    for key, value in rows:
        table.add_row(key, value)
    Console(soft_wrap=False, width=max(_console.width, keys + whole + 7)).print(table)


def emit_message(text: str) -> None:
    _console.print(text, markup=False, highlight=False, soft_wrap=True)


def emit_error(text: str, *, as_json: bool = False, data: dict[str, Any] | None = None) -> None:
    if as_json:
        sys.stderr.write(json.dumps(data or {"error": "error", "message": text}) + "\n")
    else:
        sys.stderr.write(f"alliance: {text}\n")
