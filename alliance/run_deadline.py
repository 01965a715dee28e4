"""How long a job's run may take, from its parameters and its inputs' registered row counts. Pure.

The contract records `run_deadline` on the job when a run starts (the first claim):

    run_deadline = start + base + ceil(rows * ROW_MICROSECONDS / 1e6)

- `start`: the timestamp of the claim transaction that started the run;
- `base`: the job parameter `run_seconds` if given (an integer, RUN_SECONDS_MIN..RUN_SECONDS_MAX),
  else RUN_BASE_SECONDS: connecting, claims, receipts and a small protocol, with room for a loaded
  machine;
- `rows`: the sum of the registered `row_count` of the job's distinct input datasets;
- ROW_MICROSECONDS: 60 us per input row. Reading and fingerprinting a 2M-row CSV costs its owner
  ~6 us of CPU per row, 13-19 s on an idle 2-core machine and up to 91 s on this one loaded by
  eight agents (measured: 45 us per row of wall time); PSI's bulk engine takes ~1.2 us per id at
  1e8. So a healthy run meets its deadline only on a machine slowed beyond that, and a run that
  cannot end (a party gone for good after the protocol) ends FAILED by it.

After the deadline any participant may expire the run (ExpireRun): it becomes FAILED with
"deadline passed, missing receipts from X", and the contract accepts no claim or receipt for it.

Parties do not time each other out while one reads a large input. Before it claims a run, a
party's node checks its data's fingerprint (computed in full the first time it sees the file:
as long as reading it); `connect_seconds` is how long the others wait for its link: the node's
connect timeout plus ROW_MICROSECONDS per row of the largest input a peer holds. Once linked,
parties read their inputs with the links open (the keepalive shows that a party reading is
alive) and say `ready`; that wait is bounded by the run deadline (node/mpc/grpc_transport.py).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

RUN_BASE_SECONDS = 120
RUN_SECONDS_MIN = 5
RUN_SECONDS_MAX = 7 * 24 * 3600
ROW_MICROSECONDS = 60
PARAMETER = "run_seconds"
"""The job parameter that sets the base (any protocol)."""

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


def connect_seconds(peer_row_counts: Iterable[int], floor: float) -> float:
    """How long to wait for peers to link up: `floor` (the node's connect timeout) plus
    ROW_MICROSECONDS per row of the largest input a peer must fingerprint before it claims."""
    rows = max((max(0, int(r)) for r in peer_row_counts), default=0)
    return floor + rows * ROW_MICROSECONDS / 1_000_000
