"""Turning command-line words into the values the contract takes (durations, K=V pairs)."""

from __future__ import annotations

from alliance import durations
from alliance.app.errors import BadInput
from alliance.durations import positive_seconds as positive_seconds
from alliance.errors import DurationError


class UsageError(BadInput, ValueError):
    """A command-line value is malformed; the message says the expected form (exit 2)."""


def parse_duration(text: str) -> int:
    """`90`, `90s`, `15m`, `24h`, `7d`, `2w` -> seconds (alliance.durations, as a usage error)."""
    try:
        return durations.parse_duration(text)
    except DurationError as exc:
        raise UsageError(str(exc)) from None


def parse_pairs(items: list[str] | None, what: str) -> dict[str, str]:
    """`K=V` words -> dict; a repeated key or a missing `=` is a usage error."""
    pairs: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"{what} {item!r} is not of the form KEY=VALUE")
        if key in pairs:
            raise UsageError(f"{what} {key!r} is given twice")
        pairs[key] = value.strip()
    return pairs


def parse_outputs(items: list[str] | None) -> dict[str, list[str]]:
    """`NAME=ORG[,ORG]` words -> {name: [orgs]}."""
    outputs: dict[str, list[str]] = {}
    for name, orgs in parse_pairs(items, "--output").items():
        recipients = [o.strip() for o in orgs.split(",") if o.strip()]
        if not recipients:
            raise UsageError(f"--output {name}= names no recipient: use NAME=ORG[,ORG]")
        outputs[name] = recipients
    return outputs


def split_csv(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def parse_types(items: list[str] | None) -> dict[str, str]:
    """`COLUMN=TYPE` words (`--type amount=decimal`) -> {column: type}."""
    from alliance.datafile import COLUMN_TYPES

    types = parse_pairs(items, "--type")
    for column, kind in types.items():
        if kind not in COLUMN_TYPES:
            raise UsageError(
                f"--type {column}={kind}: the type must be one of {', '.join(COLUMN_TYPES)}"
            )
    return types
