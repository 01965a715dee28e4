"""Two-round work of concurrent callers as a pipeline: one call carries a batch's second rounds
and the next batch's first rounds.

A lookup takes two rounds at each server. Done one batch after the other (round 1, round 2,
then the next batch's round 1), a batch costs two calls to each server. Under load the next
batch's lookups have queued while the previous batch's first round was out, so its second
rounds and their first rounds travel together: one call per batch to each server instead of
two (a gRPC call costs ~1 ms of CPU at each end, bench/rpc_overhead.py). Nothing waits for
company: a step takes whatever is queued and whatever awaits its second round; an idle service
sends a lone lookup's rounds one after the other at once, as `Coalescer` did.

`Pipeline.run(item)` queues an item; the first caller to find nobody working leads: it calls
`step(new, pending)` with the queued items (up to `most`) and those whose first round came back
in the previous step, then hands the lead to the oldest caller not yet done. No thread of its
own, as in coalesce.py.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from node.query.errors import QueryError

T = TypeVar("T")
P = TypeVar("P")
R = TypeVar("R")

Step = Callable[[list[T], list[P]], tuple[Sequence[P | BaseException], Sequence[R | BaseException]]]
"""`step(new, pending)` -> (per new item: what its second round needs, or its failure;
per pending item: its result, or its failure)."""


class _Call:
    """One `run`: its result when done, and the event its caller waits on."""

    __slots__ = ("done", "lead", "result", "wake")

    def __init__(self) -> None:
        self.result: object = None
        self.done = False
        self.lead = False
        self.wake = threading.Event()


class Pipeline(Generic[T, P, R]):
    """`run(item)` -> its result (or raises its failure) after two steps: its first round in
    one, its second in the next. An exception `step` raises fails every item of that step."""

    def __init__(self, step: Step[T, P, R], most: int) -> None:
        if most < 1:
            raise ValueError("a step takes at least one new item")
        self._work, self._most = step, most
        self._lock = threading.Lock()
        self._queue: deque[tuple[_Call, T]] = deque()
        self._pending: list[tuple[_Call, P]] = []
        self._busy = False
        self._stopped = False

    def stop(self) -> None:
        """Refuse new items (those queued or halfway are still done)."""
        with self._lock:
            self._stopped = True

    def run(self, item: T) -> R:
        call = _Call()
        with self._lock:
            if self._stopped:
                raise QueryError("stopping: no new work is taken")
            self._queue.append((call, item))
            if not self._busy:
                self._busy = call.lead = True
        while True:
            with self._lock:
                leading, call.lead = call.lead, False
                if not leading:
                    if call.done:
                        break
                    call.wake.clear()
            if leading:
                self._step()
            else:
                call.wake.wait()
        if isinstance(call.result, BaseException):
            raise call.result
        return call.result  # type: ignore[return-value]

    def _step(self) -> None:
        """One step: the queued items' first rounds, the pending ones' second; hand the lead on."""
        with self._lock:
            new = [self._queue.popleft() for _ in range(min(self._most, len(self._queue)))]
            pending, self._pending = self._pending, []
        interrupted: BaseException | None = None
        try:
            firsts, seconds = self._work([item for _, item in new], [p for _, p in pending])
            if len(firsts) != len(new) or len(seconds) != len(pending):
                raise QueryError(f"{len(firsts)} and {len(seconds)} results for a step of "
                                 f"{len(new)} new and {len(pending)} pending items")
        except Exception as exc:  # every item of the step fails with it, the others go on
            firsts, seconds = [exc] * len(new), [exc] * len(pending)
        except BaseException as exc:  # an interrupt: hand the lead on first, then raise it
            firsts, seconds, interrupted = [exc] * len(new), [exc] * len(pending), exc
        touched: set[_Call] = set()
        with self._lock:
            for (call, _), result in zip(pending, seconds, strict=True):
                call.result, call.done = result, True
                touched.add(call)
            for (call, _), first in zip(new, firsts, strict=True):
                if isinstance(first, BaseException):
                    call.result, call.done = first, True
                    touched.add(call)
                else:
                    self._pending.append((call, first))
            following = (self._pending[0][0] if self._pending
                         else self._queue[0][0] if self._queue else None)
            if following is None:
                self._busy = False
            else:
                following.lead = True
                touched.add(following)
        for call in touched:
            call.wake.set()
        if interrupted is not None:
            raise interrupted
