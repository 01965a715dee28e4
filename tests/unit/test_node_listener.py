"""The ledger listener's checkpoint: resume after the last event handed on, never before it."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from network.gateway import ChaincodeEvent
from node.listener import LedgerListener
from node.store import NodeStore


def _event(block: int, tx: str, job: str, name: str = "JobApproved") -> ChaincodeEvent:
    payload = json.dumps({"job_id": job, "participants": ["bank", "telecom"]}).encode()
    return ChaincodeEvent(block, tx, "alliance", name, payload)


LEDGER = [
    _event(1, "t1", "job-a", "JobRequested"),
    _event(2, "t2", "job-a"),
    _event(2, "t3", "job-b"),
    _event(3, "t4", "job-b", "JobRunning"),
]


class FakeStream:
    def __init__(self, events: list[ChaincodeEvent], done: threading.Event) -> None:
        self.events = events
        self.done = done
        self.closed = threading.Event()

    def __iter__(self):
        yield from self.events
        self.done.set()
        self.closed.wait(5)

    def close(self) -> None:
        self.closed.set()


class FakeNetwork:
    """Serves LEDGER from (start_block, after_tx_id) like the Gateway's ChaincodeEvents."""

    def __init__(self) -> None:
        self.requests: list[tuple[int | None, str]] = []
        self.done = threading.Event()

    def chaincode_events(self, chaincode: str, *, start_block: int | None = None,
                         after_tx_id: str = "", **_: Any) -> FakeStream:
        self.requests.append((start_block, after_tx_id))
        events = [e for e in LEDGER if e.block_number >= (start_block or 0)]
        if after_tx_id:
            ids = [e.tx_id for e in events]
            events = events[ids.index(after_tx_id) + 1:] if after_tx_id in ids else events
        return FakeStream(events, self.done)


def _listen(store: NodeStore) -> tuple[list[str], FakeNetwork]:
    seen: list[str] = []
    network = FakeNetwork()
    listener = LedgerListener("bank", network, "alliance", store, seen.append)  # type: ignore[arg-type]
    listener.start()
    assert network.done.wait(5)
    listener.stop()
    return seen, network


def test_a_fresh_listener_reads_from_the_first_block(tmp_path: Path) -> None:
    store = NodeStore(tmp_path / "node.sqlite")
    seen, network = _listen(store)
    assert network.requests == [(0, "")]
    assert seen == ["job-a", "job-b", "job-b"]
    assert (store.checkpoint().block, store.checkpoint().tx_id) == (3, "t4")


def test_a_restarted_listener_resumes_after_the_last_event_it_handled(tmp_path: Path) -> None:
    store = NodeStore(tmp_path / "node.sqlite")
    store.save_checkpoint(2, "t2")
    seen, network = _listen(store)
    assert network.requests == [(2, "t2")]
    assert seen == ["job-b", "job-b"]
