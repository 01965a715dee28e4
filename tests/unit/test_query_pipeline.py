"""The pipeline: a step carries one batch's second rounds and the next batch's first rounds.

A first round of item n answers "n+1000" (what its second round needs); a second round of that
answers "(n+1000) * 10". Concurrent tests hold a step inside `step` on an Event and poll the
queue's length until the other callers have queued, then release it: which item lands in which
step never depends on how fast the machine is.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from node.query.errors import QueryError
from node.query.pipeline import Pipeline

DEADLINE = 60.0
"""Seconds a test waits for a thread or a queue before it fails (never reached when it works)."""


class Steps:
    """A `step` that records (new, pending) of each call; it can hold the first one."""

    def __init__(self, fail: Callable[[list[Any], list[Any]], BaseException | None]
                 = lambda new, pending: None) -> None:
        self.fail = fail
        self.hold_first = False
        self.held = threading.Event()
        self.release = threading.Event()
        self.calls: list[tuple[list[Any], list[Any]]] = []
        self._lock = threading.Lock()

    def __call__(self, new: list[Any], pending: list[Any]
                 ) -> tuple[Sequence[Any], Sequence[Any]]:
        with self._lock:
            self.calls.append((list(new), list(pending)))
            first = len(self.calls) == 1
        if first and self.hold_first:
            self.held.set()
            if not self.release.wait(DEADLINE):
                raise TimeoutError("the test never released the held step")
        failure = self.fail(new, pending)
        if failure is not None:
            raise failure
        return ([n if isinstance(n, BaseException) else n + 1000 for n in new],
                [p * 10 for p in pending])


class Caller(threading.Thread):
    def __init__(self, pipeline: Pipeline[Any, Any, Any], item: Any) -> None:
        super().__init__(daemon=True)
        self.pipeline, self.item = pipeline, item
        self.result: Any = None
        self.error: BaseException | None = None
        self.start()

    def run(self) -> None:
        try:
            self.result = self.pipeline.run(self.item)
        except BaseException as exc:  # the test asserts on it
            self.error = exc


def wait_queued(pipeline: Pipeline[Any, Any, Any], count: int) -> None:
    deadline = time.monotonic() + DEADLINE
    while True:
        with pipeline._lock:
            if len(pipeline._queue) == count:
                return
        assert time.monotonic() < deadline, f"never {count} items queued"
        time.sleep(0.001)


def finish(*callers: Caller) -> None:
    for caller in callers:
        caller.join(DEADLINE)
        assert not caller.is_alive(), f"caller of {caller.item} never returned"


def held(pipeline: Pipeline[Any, Any, Any], steps: Steps, item: Any) -> Caller:
    """A leader whose first step is held inside `step` until `steps.release` is set."""
    steps.hold_first = True
    leader = Caller(pipeline, item)
    assert steps.held.wait(DEADLINE), "the first step never ran"
    return leader


def test_an_idle_pipeline_does_both_rounds_of_an_item_at_once_in_two_steps() -> None:
    steps = Steps()
    assert Pipeline(steps, most=64).run(1) == 10010
    assert steps.calls == [([1], []), ([], [1001])]


def test_second_rounds_travel_with_the_first_rounds_queued_meanwhile() -> None:
    steps = Steps()
    pipeline = Pipeline(steps, most=64)
    leader = held(pipeline, steps, 1)
    others = [Caller(pipeline, n) for n in (2, 3)]
    wait_queued(pipeline, 2)
    steps.release.set()
    finish(leader, *others)
    assert steps.calls[0] == ([1], [])
    assert sorted(steps.calls[1][0]) == [2, 3] and steps.calls[1][1] == [1001]
    assert steps.calls[2][0] == [] and sorted(steps.calls[2][1]) == [1002, 1003]
    assert [c.result for c in (leader, *others)] == [10010, 10020, 10030]


def test_a_step_never_takes_more_than_most_new_items() -> None:
    steps = Steps()
    pipeline = Pipeline(steps, most=2)
    leader = held(pipeline, steps, 0)
    others = [Caller(pipeline, n) for n in range(1, 6)]
    wait_queued(pipeline, 5)
    steps.release.set()
    finish(leader, *others)
    assert all(len(new) <= 2 and len(pending) <= 2 for new, pending in steps.calls)
    assert [c.result for c in others] == [(n + 1000) * 10 for n in range(1, 6)]


def test_a_failed_first_round_is_that_items_result_and_has_no_second() -> None:
    steps = Steps()
    pipeline = Pipeline(steps, most=64)
    refused = QueryError("refused")
    with pytest.raises(QueryError, match="refused"):
        pipeline.run(refused)
    assert steps.calls == [([refused], [])]


def test_an_exception_step_raises_fails_only_that_steps_items() -> None:
    steps = Steps(fail=lambda new, pending: QueryError("server down") if 2 in new else None)
    pipeline = Pipeline(steps, most=64)
    leader = held(pipeline, steps, 1)
    second = Caller(pipeline, 2)
    wait_queued(pipeline, 1)
    steps.release.set()
    finish(leader, second)
    assert isinstance(leader.error, QueryError) and isinstance(second.error, QueryError)
    assert pipeline.run(3) == 10030


def test_wrong_result_counts_fail_each_item_of_that_step() -> None:
    pipeline = Pipeline(lambda new, pending: ([], []), most=64)
    with pytest.raises(QueryError, match="0 and 0 results for a step of 1 new"):
        pipeline.run(1)


def test_an_interrupt_in_a_step_reaches_its_caller_and_leaves_the_pipeline_usable() -> None:
    steps = Steps(fail=lambda new, pending: KeyboardInterrupt() if 1 in new else None)
    pipeline = Pipeline(steps, most=64)
    with pytest.raises(KeyboardInterrupt):
        pipeline.run(1)
    assert pipeline.run(2) == 10020


def test_stop_refuses_new_items_and_finishes_those_halfway() -> None:
    steps = Steps()
    pipeline = Pipeline(steps, most=64)
    leader = held(pipeline, steps, 1)
    pipeline.stop()
    with pytest.raises(QueryError, match="stopping"):
        pipeline.run(2)
    steps.release.set()
    finish(leader)
    assert leader.result == 10010


def test_a_step_of_fewer_than_one_new_item_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one"):
        Pipeline(Steps(), most=0)


def test_many_threads_each_get_exactly_their_own_result() -> None:
    rng = random.Random(7)

    def step(new: list[int], pending: list[int]) -> tuple[list[int], list[int]]:
        time.sleep(rng.random() / 1000)
        return [n + 1000 for n in new], [p * 10 for p in pending]

    pipeline: Pipeline[int, int, int] = Pipeline(step, most=8)
    results: dict[int, int] = {}

    def ask(n: int) -> None:
        results[n] = pipeline.run(n)

    threads = [threading.Thread(target=ask, args=(n,)) for n in range(200)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(DEADLINE)
    assert results == {n: (n + 1000) * 10 for n in range(200)}
