"""Wall and CPU time per phase of a PSI run, and the peak RSS within each, for tuning and the bench.

Logged at debug level; also printed to stderr when ALLIANCE_PSI_TRACE=1, or appended to the file
that ALLIANCE_PSI_TRACE names. While ALLIANCE_PSI_TRACE is set, a daemon thread samples the
process's resident set every 50 ms (/proc/self/statm, Linux) so that each phase also reports the
largest RSS seen while it ran: where a party's memory peak comes from (bench/README.md).
"""

from __future__ import annotations

import logging
import os
import resource
import sys
import threading
import time
import weakref

log = logging.getLogger("node.mpc.psi")
SAMPLE_SECONDS = 0.05


def current_rss() -> int:
    """This process's resident set in bytes now (0 where /proc is not there)."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


class _RssSampler:
    """One per process: raises each open `Phases`' window peak to the RSS it samples."""

    _lock = threading.Lock()
    _started = False
    _phases: weakref.WeakSet[Phases] = weakref.WeakSet()

    @classmethod
    def watch(cls, phases: Phases) -> None:
        with cls._lock:
            cls._phases.add(phases)
            if not cls._started:
                cls._started = True
                threading.Thread(target=cls._loop, name="psi-rss", daemon=True).start()

    @classmethod
    def _loop(cls) -> None:
        while True:
            rss = current_rss()
            for phases in list(cls._phases):
                phases.window_peak = max(phases.window_peak, rss)
            time.sleep(SAMPLE_SECONDS)


class Phases:
    """Marks the end of each phase; `report()` logs them in one line."""

    def __init__(self, who: str) -> None:
        self.who = who
        self.last = time.perf_counter()
        self.last_cpu = time.process_time()
        self.marks: list[tuple[str, float, float, int]] = []
        self.sampled = bool(os.environ.get("ALLIANCE_PSI_TRACE"))
        self.window_peak = current_rss() if self.sampled else 0
        if self.sampled:
            _RssSampler.watch(self)

    def mark(self, name: str) -> None:
        now, cpu = time.perf_counter(), time.process_time()
        peak = max(self.window_peak, current_rss()) if self.sampled else 0
        self.marks.append((name, now - self.last, cpu - self.last_cpu, peak))
        self.last, self.last_cpu = now, cpu
        self.window_peak = current_rss() if self.sampled else 0

    def report(self) -> None:
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6
        units = "wall/cpu s/peak RSS MB" if self.sampled else "wall/cpu s"
        text = f"psi {self.who} ({units}): " + ", ".join(
            f"{k} {v:.2f}/{c:.2f}" + (f"/{rss / 1e6:.0f}" if self.sampled else "")
            for k, v, c, rss in self.marks
        ) + f"; peak RSS so far {peak_mb:.0f} MB"
        log.debug(text)
        target = os.environ.get("ALLIANCE_PSI_TRACE", "")
        if target == "1":
            print(text, file=sys.stderr, flush=True)
        elif target:
            with open(target, "a", encoding="utf-8") as out:
                out.write(text + "\n")
