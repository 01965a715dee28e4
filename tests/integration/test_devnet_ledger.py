"""Devnet's ledger rules across a real process: MVCC, events from checkpoints, crash safety."""

from __future__ import annotations

import threading
import time

import pytest

from network.devnet import kill_devnet, verify_ledger
from network.devnet.server import ledger_path
from network.devnet.store import LedgerStore
from network.errors import CommitError, GatewayError
from network.gateway import FileCheckpoint, InMemoryCheckpoint


def test_concurrent_writes_to_one_key_one_valid_one_mvcc_conflict(devnet) -> None:
    with devnet.gateway() as gw:
        contract = devnet.contract(gw)
        contract.submit_transaction("Put", "counter", "0")
        first = contract.new_proposal("Incr", ["counter"]).endorse()
        second = contract.new_proposal("Incr", ["counter"]).endorse()  # read the same version
        commits = [first.submit(), second.submit()]
        statuses = [c.status() for c in commits]
        assert sorted(s.code_name for s in statuses) == ["MVCC_READ_CONFLICT", "VALID"]
        with pytest.raises(CommitError) as info:
            next(c for c in commits if not c.status().successful).require_success()
        assert info.value.code_name == "MVCC_READ_CONFLICT"
        assert contract.evaluate_transaction("Get", "counter") == b"1"  # the loser wrote nothing


def test_range_read_invalidated_by_a_phantom(devnet) -> None:
    with devnet.gateway() as gw:
        contract = devnet.contract(gw)
        contract.submit_transaction("Put", "r1", "x")
        scan = contract.new_proposal("ScanAndPut", ["r", "s", "summary", "1 key"]).endorse()
        contract.submit_transaction("Put", "r2", "x")  # a new key inside the scanned range
        status = scan.submit().status()
    assert status.code_name == "PHANTOM_READ_CONFLICT"


def _collect(stream, n: int, out: list, checkpoint=None) -> None:
    for event in stream:
        out.append(event)
        if checkpoint is not None:
            checkpoint.checkpoint_event(event)
        if len(out) >= n:
            break


def test_events_follow_commits_from_a_block(devnet) -> None:
    with devnet.gateway() as gw:
        contract = devnet.contract(gw)
        first = contract.new_proposal("Put", ["e0", "v"]).endorse()
        block = first.submit().status().block_number
        for i in range(1, 4):
            contract.submit_transaction("Put", f"e{i}", "v")
        stream = gw.get_network("alliance").chaincode_events("alliance", start_block=block)
        events: list = []
        _collect(stream, 4, events)
        stream.close()
    assert [e.payload for e in events] == [b"e0", b"e1", b"e2", b"e3"]
    assert events[0].tx_id == first.tx_id and events[0].event_name == "Put"
    assert all(e.chaincode_id == "alliance" for e in events)


def test_events_resume_from_checkpoint_without_gaps_or_duplicates(devnet, tmp_path) -> None:
    path = tmp_path / "listener.json"
    with devnet.gateway() as gw:
        contract = devnet.contract(gw)
        network = gw.get_network("alliance")
        start = contract.new_proposal("Put", ["c0", "v"]).endorse()
        start_block = start.submit().status().block_number
        # several events in one block, so the checkpoint lands mid-block
        threads = [
            threading.Thread(target=contract.submit_transaction, args=("Put", f"c{i}", "v"))
            for i in range(1, 12)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        seen: list = []
        checkpoint = FileCheckpoint(path)
        first = network.chaincode_events("alliance", start_block=start_block, checkpoint=checkpoint)
        _collect(first, 5, seen, checkpoint)
        first.close()
        assert FileCheckpoint(path).tx_id == seen[-1].tx_id
        for i in range(12, 15):
            contract.submit_transaction("Put", f"c{i}", "v")
        resumed = network.chaincode_events("alliance", checkpoint=FileCheckpoint(path))
        _collect(resumed, 15, seen, None)  # until 15 in all
        resumed.close()
    keys = [e.payload.decode() for e in seen]
    assert sorted(keys) == sorted(f"c{i}" for i in range(15))
    assert len(set(e.tx_id for e in seen)) == 15


def test_event_stream_waits_for_next_commit(devnet) -> None:
    with devnet.gateway() as gw:
        contract = devnet.contract(gw)
        stream = gw.get_network("alliance").chaincode_events("alliance")
        got: list = []
        reader = threading.Thread(target=_collect, args=(stream, 1, got))
        reader.start()
        time.sleep(0.3)
        contract.submit_transaction("Put", "later", "v")
        reader.join(timeout=10)
        stream.close()
    assert [e.payload for e in got] == [b"later"]


def test_in_memory_checkpoint_block_rule() -> None:
    cp = InMemoryCheckpoint()
    assert cp.block_number is None
    cp.checkpoint_transaction(7, "tx")
    assert (cp.block_number, cp.tx_id) == (7, "tx")
    cp.checkpoint_block(7)
    assert (cp.block_number, cp.tx_id) == (8, "")


def test_sigkill_during_submissions_loses_no_committed_tx(devnet) -> None:
    committed: list[tuple[str, str]] = []
    lock = threading.Lock()
    stop = threading.Event()

    def submitter(index: int) -> None:
        with devnet.gateway() as gw:
            contract = devnet.contract(gw)
            n = 0
            while not stop.is_set():
                n += 1
                key = f"w{index}-{n}"
                try:
                    tx = contract.new_proposal("Put", [key, "v"]).endorse()
                    if tx.submit().status(timeout=5).successful:
                        with lock:
                            committed.append((tx.tx_id, key))
                except GatewayError:
                    return

    threads = [threading.Thread(target=submitter, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60  # kill mid-stream, once some commits landed, at any speed
    while len(committed) <= 20 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert kill_devnet(devnet.net_dir) is not None
    stop.set()
    for t in threads:
        t.join(timeout=30)
    assert len(committed) > 20

    assert verify_ledger(devnet.net_dir) > 1
    store = LedgerStore(ledger_path(devnet.net_dir))
    try:
        for tx_id, _ in committed:
            assert store.tx_status(tx_id) is not None, f"committed {tx_id} was lost"
    finally:
        store.close()

    devnet.restart()
    with devnet.gateway() as gw:
        contract = devnet.contract(gw)
        for _, key in committed[:: max(1, len(committed) // 20)]:
            assert contract.evaluate_transaction("Get", key) == b"v"
        contract.submit_transaction("Put", "after-restart", "v")
        assert contract.evaluate_transaction("Get", "after-restart") == b"v"


def test_sigterm_stops_cleanly_and_restart_keeps_state(devnet) -> None:
    from network.devnet.launcher import devnet_status, stop_devnet
    from network.devnet.server import run_file

    with devnet.gateway() as gw:
        devnet.contract(gw).submit_transaction("Put", "durable", "yes")
    assert stop_devnet(devnet.net_dir)
    assert not run_file(devnet.net_dir).exists()
    assert not devnet_status(devnet.net_dir).running
    assert not stop_devnet(devnet.net_dir)  # nothing left to stop
    devnet.restart()
    assert devnet_status(devnet.net_dir).running
    with devnet.gateway() as gw:
        assert devnet.contract(gw).evaluate_transaction("Get", "durable") == b"yes"


def test_second_devnet_on_same_directory_is_refused(devnet) -> None:
    from network.devnet.launcher import start_devnet
    from network.errors import DevnetError

    with pytest.raises(DevnetError, match="already runs"):
        start_devnet(devnet.net_dir)


async def test_events_as_async_iterator(devnet) -> None:
    with devnet.gateway() as gw:
        status = devnet.contract(gw).new_proposal("Put", ["async", "v"]).endorse().submit().status()
        stream = gw.get_network("alliance").chaincode_events(
            "alliance", start_block=status.block_number
        )
        async for event in stream:
            assert event.payload == b"async"
            break
        stream.close()
