"""Wall and CPU time per phase of a PSI run, for tuning and the benchmark.

Logged at debug level; also printed to stderr when ALLIANCE_PSI_TRACE=1, or appended to the file
that ALLIANCE_PSI_TRACE names.
"""

from __future__ import annotations

import logging
import os
import resource
import sys
import time

log = logging.getLogger("node.mpc.psi")


class Phases:
    """Marks the end of each phase; `report()` logs them in one line."""

    def __init__(self, who: str) -> None:
        self.who = who
        self.last = time.perf_counter()
        self.last_cpu = time.process_time()
        self.marks: list[tuple[str, float, float]] = []

    def mark(self, name: str) -> None:
        now, cpu = time.perf_counter(), time.process_time()
        self.marks.append((name, now - self.last, cpu - self.last_cpu))
        self.last, self.last_cpu = now, cpu

    def report(self) -> None:
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        text = f"psi {self.who} (wall/cpu s): " + ", ".join(
            f"{k} {v:.2f}/{c:.2f}" for k, v, c in self.marks
        ) + f"; peak RSS so far {peak_mb:.0f} MB"
        log.debug(text)
        target = os.environ.get("ALLIANCE_PSI_TRACE", "")
        if target == "1":
            print(text, file=sys.stderr, flush=True)
        elif target:
            with open(target, "a", encoding="utf-8") as out:
                out.write(text + "\n")
