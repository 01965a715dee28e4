"""How the TUI writes times, durations and ledger events: pure functions, no widgets.

Times are shown in the viewer's local zone with a relative duration ("14:03 (5 min ago)"). The
`clock` hook lets snapshot tests pin "now" and the zone so screens render the same every run.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, tzinfo
from pathlib import Path

Clock = Callable[[], float]

_clock: Clock = time.time
_zone: tzinfo | None = None


def set_clock(clock: Clock, zone: tzinfo | None = None) -> None:
    """Pin the clock and the time zone (snapshot tests); `set_clock(time.time)` restores."""
    global _clock, _zone
    _clock, _zone = clock, zone


def now() -> float:
    return _clock()


def relative(seconds: float) -> str:
    """`in 3 h` / `5 min ago` for a signed number of seconds from now."""
    past = seconds < 0
    s = abs(int(seconds))
    if s < 60:
        text = f"{s} s"
    elif s < 3600:
        text = f"{s // 60} min"
    elif s < 86400 * 2:
        text = f"{s // 3600} h"
    else:
        text = f"{s // 86400} d"
    if s < 5:
        return "now"
    return f"{text} ago" if past else f"in {text}"


def local_time(ts: int | float | None, *, seconds: bool = False) -> str:
    """`2026-12-01 14:03 (5 min ago)` in the local zone; `—` for no time."""
    if not ts:
        return "—"
    zone = _zone if _zone is not None else datetime.now().astimezone().tzinfo
    dt = datetime.fromtimestamp(ts, tz=UTC).astimezone(zone or UTC)
    fmt = "%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M"
    return f"{dt.strftime(fmt)} ({relative(ts - now())})"


def clock_time(ts: int | float) -> str:
    """`14:03:27` in the local zone: for the live feed."""
    zone = _zone if _zone is not None else datetime.now().astimezone().tzinfo
    return datetime.fromtimestamp(ts, tz=UTC).astimezone(zone or UTC).strftime("%H:%M:%S")


def short_time(ts: int | float | None) -> str:
    """`5 min ago` / `in 3 h`: for table cells."""
    return relative(ts - now()) if ts else "—"


def short_id(value: str, keep: int = 12) -> str:
    return value if len(value) <= keep + 1 else value[:keep] + "…"


def event_line(name: str, payload: bytes) -> str:
    """One line describing a chaincode event (names and ids only: that is all events carry)."""
    try:
        data = json.loads(payload)
    except ValueError:
        data = {}
    if not isinstance(data, dict):
        data = {}
    subject = (
        data.get("job_id")
        or data.get("proposal_id")
        or data.get("dataset")
        or data.get("id")
        or data.get("org")
        or ""
    )
    extra = []
    for key in ("state", "org", "voter", "vote", "reason"):
        if key in data and data[key] != subject:
            extra.append(f"{key}={data[key]}")
    return f"{name} {subject} {' '.join(extra)}".strip()


def shown_path(path: str | Path) -> str:
    """A local path as the user finds it: relative to the working directory when under it (as
    `--dir net` was typed), absolute otherwise."""
    p = Path(path)
    try:
        return str(p.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(p)
