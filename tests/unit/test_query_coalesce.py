"""The coalescer: concurrent callers' items done together by whichever caller finds nobody working.

Every concurrent test holds a batch inside `work` on an Event and waits (by polling the queue's
length under the coalescer's lock, with a generous deadline) until the other callers have queued,
then releases it: what lands in which batch never depends on how fast the machine is.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Hashable, Sequence
from typing import Any

import pytest

from node.query.coalesce import Coalescer
from node.query.errors import QueryError

DEADLINE = 60.0
"""Seconds a test waits for a thread or a queue before it fails (never reached when it works)."""


class Work:
    """A `work` that records each batch and the thread that did it; it can hold one batch."""

    def __init__(self, answer: Callable[[list[Any]], Sequence[Any]] | None = None,
                 hold: Callable[[list[Any]], bool] = lambda batch: False) -> None:
        self.answer = answer or (lambda batch: [item * 10 for item in batch])
        self.hold = hold
        self.held = threading.Event()
        self.release = threading.Event()
        self.batches: list[list[Any]] = []
        self.threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def __call__(self, batch: list[Any]) -> Sequence[Any]:
        with self._lock:
            self.batches.append(list(batch))
            self.threads.append(threading.current_thread())
        if self.hold(batch):
            self.held.set()
            if not self.release.wait(DEADLINE):
                raise TimeoutError("the test never released the held batch")
        return self.answer(batch)


class Caller(threading.Thread):
    """One thread calling `coalescer.run(items)`; keeps what it returned or raised."""

    def __init__(self, coalescer: Coalescer[Any, Any], items: list[Any]) -> None:
        super().__init__(daemon=True)
        self.coalescer, self.items = coalescer, items
        self.result: list[Any] | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = self.coalescer.run(self.items)
        except BaseException as exc:  # the test asserts on it
            self.error = exc


def queued(coalescer: Coalescer[Any, Any]) -> int:
    with coalescer._lock:
        return len(coalescer._queue)


def wait_queued(coalescer: Coalescer[Any, Any], count: int) -> None:
    """Poll (not sleep for a guessed time) until `count` items wait in the queue."""
    deadline = time.monotonic() + DEADLINE
    while queued(coalescer) != count:
        assert time.monotonic() < deadline, f"{queued(coalescer)} items queued, not {count}"
        time.sleep(0.001)


def start(coalescer: Coalescer[Any, Any], items: list[Any]) -> Caller:
    caller = Caller(coalescer, items)
    caller.start()
    return caller


def start_queued(coalescer: Coalescer[Any, Any], *calls: list[Any]) -> list[Caller]:
    """Start one caller per list, each only once the previous one's items are queued."""
    callers = []
    for items in calls:
        before = queued(coalescer)
        callers.append(start(coalescer, items))
        wait_queued(coalescer, before + len(items))
    return callers


def hold_first(coalescer: Coalescer[Any, Any], work: Work, items: list[Any]) -> Caller:
    """A leader whose first batch is held inside `work` until `work.release` is set."""
    leader = start(coalescer, items)
    assert work.held.wait(DEADLINE), "the first batch never reached work"
    return leader


def finish(*callers: Caller) -> None:
    for caller in callers:
        caller.join(DEADLINE)
        assert not caller.is_alive(), f"caller of {caller.items} never returned"
        assert caller.error is None, f"caller of {caller.items} raised {caller.error!r}"


def first_only(work: Work) -> Callable[[list[Any]], bool]:
    return lambda batch: len(work.batches) == 1


def test_results_come_back_in_each_callers_item_order() -> None:
    work = Work()
    work.hold = first_only(work)
    coalescer = Coalescer(work, most=64)
    leader = hold_first(coalescer, work, [1])
    a, b = start_queued(coalescer, [5, 3, 9], [4, 8])
    work.release.set()
    finish(leader, a, b)
    assert work.batches[1] == [5, 3, 9, 4, 8]
    assert a.result == [50, 30, 90]
    assert b.result == [40, 80]
    assert leader.result == [10]


def test_an_idle_coalescer_does_a_calls_items_at_once_in_one_work_call() -> None:
    work = Work()
    coalescer = Coalescer(work, most=64)
    assert coalescer.run([1, 2, 3]) == [10, 20, 30]
    assert work.batches == [[1, 2, 3]]
    assert work.threads == [threading.current_thread()]


def test_items_queued_during_a_batch_are_done_together_in_the_next() -> None:
    work = Work()
    work.hold = first_only(work)
    coalescer = Coalescer(work, most=64)
    leader = hold_first(coalescer, work, [1])
    others = [start(coalescer, [n]) for n in range(2, 10)]
    wait_queued(coalescer, len(others))
    with coalescer._lock:
        order = [item for _, _, item in coalescer._queue]
    work.release.set()
    finish(leader, *others)
    assert work.batches == [[1], order]
    assert sorted(order) == list(range(2, 10))
    for caller in others:
        assert caller.result == [caller.items[0] * 10]


def test_the_next_batch_is_done_by_the_oldest_waiting_callers_thread() -> None:
    work = Work()
    work.hold = first_only(work)
    coalescer = Coalescer(work, most=64)
    leader = hold_first(coalescer, work, [1])
    oldest, younger = start_queued(coalescer, [2], [3])
    work.release.set()
    finish(leader, oldest, younger)
    assert work.threads == [leader, oldest]
    assert work.batches == [[1], [2, 3]]


def test_a_batch_never_exceeds_most() -> None:
    work = Work()
    work.hold = first_only(work)
    coalescer = Coalescer(work, most=3)
    leader = hold_first(coalescer, work, [0])
    others = start_queued(coalescer, *[[n] for n in range(1, 11)])
    work.release.set()
    finish(leader, *others)
    assert work.batches == [[0], [1, 2, 3], [4, 5, 6], [7, 8, 9], [10]]
    assert [caller.result for caller in others] == [[n * 10] for n in range(1, 11)]


def test_a_call_of_more_than_most_items_gets_them_all_over_several_batches() -> None:
    work = Work()
    coalescer = Coalescer(work, most=3)
    assert coalescer.run(list(range(7))) == [n * 10 for n in range(7)]
    assert work.batches == [[0, 1, 2], [3, 4, 5], [6]]


def _by_letter(item: str) -> Hashable:
    return item[0]


def test_only_items_of_one_key_are_batched_together_oldest_first() -> None:
    work = Work(answer=lambda batch: [item.upper() for item in batch])
    coalescer = Coalescer(work, most=2, key=_by_letter)
    items = ["a1", "b1", "a2", "a3", "b2", "a4"]
    assert coalescer.run(items) == [item.upper() for item in items]
    assert work.batches == [["a1", "a2"], ["b1", "b2"], ["a3", "a4"]]


def test_callers_of_other_keys_lose_nothing_and_keep_their_order_within_a_key() -> None:
    work = Work(answer=lambda batch: [item.upper() for item in batch])
    work.hold = first_only(work)
    coalescer = Coalescer(work, most=64, key=_by_letter)
    leader = hold_first(coalescer, work, ["c0"])
    calls = [["a1", "b1"], ["b2"], ["a2", "c1", "a3"], ["b3", "a4"]]
    callers = start_queued(coalescer, *calls)
    work.release.set()
    finish(leader, *callers)
    assert work.batches == [["c0"], ["a1", "a2", "a3", "a4"], ["b1", "b2", "b3"], ["c1"]]
    for caller in callers:
        assert caller.result == [item.upper() for item in caller.items]


def _fails_on_three(batch: list[int]) -> list[int]:
    if 3 in batch:
        raise RuntimeError("table unreadable")
    return [item * 10 for item in batch]


def test_an_exception_work_raises_is_the_result_of_that_batchs_items_only() -> None:
    coalescer = Coalescer(Work(answer=_fails_on_three), most=2)
    results = coalescer.run([1, 2, 3, 4, 5])
    assert results[:2] == [10, 20] and results[4] == 50
    assert isinstance(results[2], RuntimeError) and str(results[2]) == "table unreadable"
    assert results[3] is results[2]


def test_a_failed_batch_still_hands_on_to_the_callers_queued_behind_it() -> None:
    work = Work(answer=_fails_on_three)
    work.hold = first_only(work)
    coalescer = Coalescer(work, most=64)
    leader = hold_first(coalescer, work, [3])
    behind = start_queued(coalescer, [4, 5])[0]
    work.release.set()
    finish(leader, behind)
    assert leader.result is not None and isinstance(leader.result[0], RuntimeError)
    assert behind.result == [40, 50]
    assert coalescer.run([6]) == [60]


def test_an_exception_returned_for_one_item_stays_that_items() -> None:
    refused = ValueError("refused: no consent")

    def answer(batch: list[int]) -> list[object]:
        return [refused if item == 2 else item * 10 for item in batch]

    coalescer = Coalescer(Work(answer=answer), most=64)
    assert coalescer.run([1, 2, 3]) == [10, refused, 30]


@pytest.mark.parametrize("wrong", [-1, 1], ids=["too-few", "too-many"])
def test_work_returning_the_wrong_number_of_results_fails_each_item_of_the_batch(
        wrong: int) -> None:
    def answer(batch: list[int]) -> list[int]:
        results = [item * 10 for item in batch]
        if 1 in batch:  # the first batch only
            return results[:wrong] if wrong < 0 else results + [0] * wrong
        return results

    coalescer = Coalescer(Work(answer=answer), most=3)
    results = coalescer.run([1, 2, 3, 4])
    assert results[3] == 40
    for result in results[:3]:
        assert isinstance(result, QueryError)
        assert f"{3 + wrong} results for a batch of 3" in str(result)


def test_stop_refuses_new_items() -> None:
    work = Work()
    coalescer = Coalescer(work, most=64)
    coalescer.stop()
    with pytest.raises(QueryError, match="stopping"):
        coalescer.run([1])
    assert work.batches == []


def test_items_queued_before_stop_are_still_done() -> None:
    work = Work()
    work.hold = first_only(work)
    coalescer = Coalescer(work, most=64)
    leader = hold_first(coalescer, work, [1])
    behind = start_queued(coalescer, [2, 3])[0]
    coalescer.stop()
    work.release.set()
    finish(leader, behind)
    assert (leader.result, behind.result) == ([10], [20, 30])


def test_an_empty_call_returns_nothing_without_work() -> None:
    work = Work()
    assert Coalescer(work, most=64).run([]) == []
    assert work.batches == []


@pytest.mark.parametrize("most", [0, -1])
def test_a_batch_of_fewer_than_one_item_is_refused(most: int) -> None:
    with pytest.raises(ValueError, match="at least one item"):
        Coalescer(Work(), most=most)


def test_many_threads_each_get_exactly_their_own_results() -> None:
    threads, runs, most = 16, 50, 5
    oversized: list[list[tuple[int, int, int]]] = []
    mixed: list[list[tuple[int, int, int]]] = []

    def work(batch: list[tuple[int, int, int]]) -> list[object]:
        if len(batch) > most:
            oversized.append(batch)
        if len({item[0] % 3 for item in batch}) != 1:
            mixed.append(batch)
        time.sleep(0.0002)  # lets the other callers queue meanwhile; no assertion depends on it
        return [ValueError(item) if item[2] == 6 else ("done", item) for item in batch]

    coalescer = Coalescer(work, most=most, key=lambda item: item[0] % 3)
    start_line = threading.Barrier(threads)
    wrong: list[str] = []

    def caller(thread: int) -> None:
        rng = random.Random(thread)
        start_line.wait(DEADLINE)
        for run in range(runs):
            items = [(thread, run, i) for i in range(rng.randrange(0, 13))]
            results = coalescer.run(items)
            expected = [("done", item) for item in items]
            got = [("done", r.args[0]) if isinstance(r, ValueError) else r for r in results]
            if got != expected or any(isinstance(r, ValueError) != (item[2] == 6)
                                      for r, item in zip(results, items, strict=True)):
                wrong.append(f"thread {thread} run {run}: {results!r}")

    workers = [threading.Thread(target=caller, args=(n,), daemon=True) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(DEADLINE * 2)
        assert not worker.is_alive(), "a caller never returned"
    assert wrong == []
    assert oversized == []
    assert mixed == []
    assert queued(coalescer) == 0


def test_an_interrupt_in_work_reaches_its_caller_and_leaves_the_coalescer_usable() -> None:
    interrupt = [True]

    def work(batch: list[int]) -> list[int]:
        if interrupt.pop() if interrupt else False:
            raise KeyboardInterrupt
        return [2 * item for item in batch]

    coalescer: Coalescer[int, int] = Coalescer(work, 4)
    with pytest.raises(KeyboardInterrupt):
        coalescer.run([1])
    assert coalescer.run([2, 3]) == [4, 6]


def test_a_lingering_batch_takes_the_items_arriving_until_it_is_full() -> None:
    work = Work()
    coalescer: Coalescer[int, int] = Coalescer(work, 3, linger=lambda: DEADLINE)
    leader = start(coalescer, [1])
    wait_queued(coalescer, 1)
    other = start(coalescer, [2, 3])
    finish(leader, other)  # full before the linger ends: done at once, not after DEADLINE
    assert work.batches == [[1, 2, 3]]
    assert (leader.result, other.result) == ([10], [20, 30])


def test_a_lingering_batch_is_done_when_its_linger_ends() -> None:
    work = Work()
    coalescer: Coalescer[int, int] = Coalescer(work, 8, linger=lambda: 0.05)
    assert coalescer.run([4, 5]) == [40, 50]
    assert work.batches == [[4, 5]]
