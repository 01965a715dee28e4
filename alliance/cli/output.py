"""Printing results: rich tables for people, canonical JSON for machines (`--json`)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

_console = Console()


def emit_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def emit_table(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    table = Table(title=title, title_justify="left", header_style="bold")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*("" if cell is None else str(cell) for cell in row))
    _console.print(table)


def emit_listing(
    as_json: bool,
    items: list[Any],
    title: str,
    columns: Sequence[str],
    row: Callable[[Any], Sequence[Any]],
) -> None:
    """A list of ledger objects: as JSON for machines, else one table row per item."""
    if as_json:
        emit_json(items)
    else:
        emit_table(title, columns, (row(item) for item in items))


def emit_fields(title: str, fields: dict[str, Any]) -> None:
    table = Table(title=title, title_justify="left", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    for key, value in fields.items():
        if isinstance(value, (dict, list)):
            value = json.dumps(value, sort_keys=True, ensure_ascii=False)
        table.add_row(key, "" if value is None else str(value))
    _console.print(table)


def emit_message(text: str) -> None:
    _console.print(text)


def emit_error(text: str) -> None:
    sys.stderr.write(f"alliance: {text}\n")
