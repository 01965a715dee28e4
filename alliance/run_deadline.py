"""How long a job's run may take, from its parameters and its inputs' registered row counts. Pure.

The contract records `run_deadline` on the job when a run starts (the first claim):

    run_deadline = start + base + ceil(rows * ROW_MICROSECONDS / 1e6)

- `start`: the timestamp of the claim transaction that started the run;
- `base`: the job parameter `run_seconds` if given (an integer, RUN_SECONDS_MIN..RUN_SECONDS_MAX),
  else RUN_BASE_SECONDS: connecting, claims, receipts and a small protocol, with room for a loaded
  machine;
- `rows`: the sum of the registered `row_count` of the job's distinct input datasets;
- ROW_MICROSECONDS: 30 us per input row, about three times what reading and fingerprinting a CSV
  costs its owner (2M rows: 13-19 s measured, ~9 us per row) and twenty times what PSI's bulk
  engine takes per id at 1e8 — so a healthy run never meets its deadline, and a run that cannot
  end (a party gone for good) ends FAILED by it.

After the deadline any participant may expire the run (ExpireRun): it becomes FAILED with
"deadline passed, missing receipts from X", and the contract accepts no claim or receipt for it.

`connect_seconds` is the node's side of the same estimate: how long a party waits for its peers to
connect, given what the peers must read first (their inputs' row counts).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

RUN_BASE_SECONDS = 120
RUN_SECONDS_MIN = 5
RUN_SECONDS_MAX = 7 * 24 * 3600
ROW_MICROSECONDS = 30
PARAMETER = "run_seconds"
"""The job parameter that sets the base (any protocol)."""

CONNECT_BASE_SECONDS = 15.0
PREPARE_MICROSECONDS = 20
"""What a party may need per input row before it connects (read + fingerprint; ~9 us measured
for CSV, less for Parquet), doubled for a loaded machine."""


class DeadlineError(ValueError):
    """The job's `run_seconds` parameter is not an integer in range."""


def base_seconds(parameters: Mapping[str, str]) -> int:
    """The base of the run's deadline: `run_seconds` if the job sets it, else RUN_BASE_SECONDS."""
    text = parameters.get(PARAMETER)
    if text is None:
        return RUN_BASE_SECONDS
    try:
        value = int(text)
    except ValueError:
        raise DeadlineError(
            f"job parameter {PARAMETER}={text!r} is not an integer number of seconds"
        ) from None
    if not RUN_SECONDS_MIN <= value <= RUN_SECONDS_MAX:
        raise DeadlineError(
            f"job parameter {PARAMETER}={value} is out of range; give {RUN_SECONDS_MIN}.."
            f"{RUN_SECONDS_MAX} seconds"
        )
    return value


def run_seconds(parameters: Mapping[str, str], row_counts: Iterable[int]) -> int:
    """Seconds a run may take: base + ceil(rows * ROW_MICROSECONDS / 1e6)."""
    rows = sum(max(0, int(r)) for r in row_counts)
    return base_seconds(parameters) + math.ceil(rows * ROW_MICROSECONDS / 1_000_000)


def connect_seconds(peer_row_counts: Iterable[int], floor: float = CONNECT_BASE_SECONDS) -> float:
    """How long to wait for peers to connect, given the rows the slowest of them reads first."""
    rows = max((max(0, int(r)) for r in peer_row_counts), default=0)
    return floor + rows * PREPARE_MICROSECONDS / 1_000_000
