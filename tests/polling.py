"""Waiting for a condition in tests that drive real processes: poll it, never a fixed sleep
(shared by tests/integration and tests/fabric)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def until(what: str, check: Callable[[], object], timeout: float, interval: float = 0.2) -> Any:
    """Poll `check` until it returns something truthy, and return that; AssertionError naming
    `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)
