"""Times as people read them: local time with a relative duration, and ISO 8601 for machines.

The ledger records Unix seconds (transaction timestamps); front ends show `when(t)`:
"2026-12-02 14:03 (in 23 h)", and put `iso(t)` beside the raw number in JSON. Pure.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime


def iso(epoch: int | float | None) -> str | None:
    """ISO 8601 in UTC, e.g. "2026-12-02T14:03:00Z"; None stays None."""
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def relative(seconds: float) -> str:
    """A duration to a point in time, coarse: "in 23 h", "5 min ago", "now"."""
    span = abs(seconds)
    if span < 45:
        return "now"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if span >= size * (1 if unit == "min" else 1.5 if unit == "h" else 2):
            amount = round(span / size)
            break
    else:
        unit, amount = "min", 1
    return f"in {amount} {unit}" if seconds > 0 else f"{amount} {unit} ago"


def when(epoch: int | float | None, now: float | None = None) -> str:
    """Local time to the minute with how far it is: "2026-12-02 14:03 (in 23 h)"."""
    if epoch is None or epoch == 0:
        return ""
    now = time.time() if now is None else now
    local = datetime.fromtimestamp(epoch).astimezone().strftime("%Y-%m-%d %H:%M")
    return f"{local} ({relative(epoch - now)})"
