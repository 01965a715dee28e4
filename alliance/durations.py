"""Durations as people write them (`90`, `15m`, `24h`, `7d`, `2w`) and positive seconds: shared
by the command line and the node daemon's arguments, so neither imports the other."""

from __future__ import annotations

import argparse
import re

from alliance.errors import DurationError

_DURATION = re.compile(r"^(\d+)\s*([smhdw]?)$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> int:
    """`90`, `90s`, `15m`, `24h`, `7d`, `2w` -> seconds; DurationError otherwise."""
    match = _DURATION.match(text.strip().lower())
    if not match or int(match.group(1)) <= 0:
        raise DurationError(
            f"duration {text!r} is not valid: use a positive number with s, m, h, d or w (e.g. 24h)"
        )
    return int(match.group(1)) * _UNITS[match.group(2)]


def positive_seconds(text: str) -> float:
    """An argparse type: a number of seconds greater than zero."""
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of seconds")
    return value
