"""Concurrent callers' items done together: one gRPC call, one pass over the table, for many.

A lookup's fixed costs (a gRPC call each way, a tree walk per DPF or FSS level, a pass over
the table) do not grow with how many lookups share them. `Coalescer.run(items)` queues a
caller's items; the first caller to find nobody working takes every item queued (up to `most`
of one `key`, oldest first) and does them in one `work` call; callers arriving meanwhile wait,
and when the work returns the oldest waiting caller is woken to do the next batch. No thread of
its own (a hand-off to one costs more than a small batch's work), and an idle service does
each item at once: a batch is whatever queued while the previous one was being done — or, with
a `linger`, whatever queued within that long of the oldest item's arrival (where each batch
costs a whole pass over a large table, calls arriving a few milliseconds apart share one).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from typing import Generic, TypeVar

from node.query.errors import QueryError

T = TypeVar("T")
R = TypeVar("R")


class _Call:
    """One `run`: its results as they come, and the event its caller waits on."""

    __slots__ = ("at", "lead", "left", "results", "wake")

    def __init__(self, count: int) -> None:
        self.at = time.monotonic()
        self.results: list[object] = [None] * count
        self.left = count
        self.lead = False
        self.wake = threading.Event()


class Coalescer(Generic[T, R]):
    """`run(items)` -> one result (or the exception it raised) per item, in order.

    `work(batch)` returns one result or exception per item of the batch; an exception it raises
    becomes every item's. `key(item)`: only items of the same key are done together (a server's
    lookups on the same table epoch). `linger()`: seconds a batch waits, from its oldest item's
    arrival, for more items (up to `most`) before it is done; 0 by default."""

    def __init__(self, work: Callable[[list[T]], Sequence[R | BaseException]], most: int,
                 key: Callable[[T], Hashable] = lambda item: None,
                 linger: Callable[[], float] = lambda: 0.0) -> None:
        if most < 1:
            raise ValueError("a batch holds at least one item")
        self._work, self._most, self._key, self._linger = work, most, key, linger
        self._lock = threading.Lock()
        self._grown = threading.Condition(self._lock)
        self._queue: deque[tuple[_Call, int, T]] = deque()
        self._busy = False
        self._stopped = False

    def stop(self) -> None:
        """Refuse new items (those queued are still done)."""
        with self._lock:
            self._stopped = True

    def run(self, items: Sequence[T]) -> list[R | BaseException]:
        call = _Call(len(items))
        if not items:
            return []
        with self._lock:
            if self._stopped:
                raise QueryError("stopping: no new work is taken")
            self._queue.extend((call, index, item) for index, item in enumerate(items))
            self._grown.notify()
            if not self._busy:
                self._busy = call.lead = True
        while True:
            with self._lock:
                leading, call.lead = call.lead, False
                if not leading:
                    if not call.left:
                        break
                    call.wake.clear()
            if leading:
                self._step()
            else:
                call.wake.wait()
        return call.results  # type: ignore[return-value]

    def _step(self) -> None:
        """Do the oldest queued item and up to `most` - 1 more of its key; hand the lead on."""
        linger = self._linger()
        with self._lock:
            if linger > 0:
                deadline = self._queue[0][0].at + linger
                while len(self._queue) < self._most:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._grown.wait(left)
            key = self._key(self._queue[0][2])
            batch, kept = [], deque()
            while self._queue:
                entry = self._queue.popleft()
                if len(batch) < self._most and self._key(entry[2]) == key:
                    batch.append(entry)
                else:
                    kept.append(entry)
                    if len(batch) == self._most:
                        break
            kept.extend(self._queue)
            self._queue = kept
        interrupted: BaseException | None = None
        try:
            results: Sequence[object] = self._work([item for _, _, item in batch])
            if len(results) != len(batch):
                raise QueryError(f"{len(results)} results for a batch of {len(batch)}")
        except Exception as exc:  # every item of the batch fails with it, the others go on
            results = [exc] * len(batch)
        except BaseException as exc:  # an interrupt: hand the lead on first, then raise it
            results, interrupted = [exc] * len(batch), exc
        touched = set()
        with self._lock:
            for (call, index, _), result in zip(batch, results, strict=True):
                call.results[index] = result
                call.left -= 1
                touched.add(call)
            if self._queue:
                following = self._queue[0][0]
                following.lead = True
                touched.add(following)
            else:
                self._busy = False
        for call in touched:
            call.wake.set()
        if interrupted is not None:
            raise interrupted
