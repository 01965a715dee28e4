"""A member's sent records: one found by binary search, the newest versions kept, older files
still read."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from node.query.contribution import Records
from node.query.member_store import KEEP_SENT, MemberStore
from node.query.record import FIELDS, Aggregates


def _records(keys: list[bytes]) -> Records:
    rng = np.random.default_rng(len(keys))
    fields = {n: rng.integers(0, 2**34, len(keys), dtype=np.uint64) for n in FIELDS}
    return Records(keys, fields, np.zeros((len(keys), 3), np.int64),
                   np.ones(len(keys), np.uint32))


def test_each_sent_record_is_found_and_an_unsent_one_is_not(tmp_path: Path) -> None:
    edges = [b"\x00" * 32, b"\xff" * 32, b"\x00" * 31 + b"\x01", b"\x80" + b"\x00" * 31]
    keys = edges + [os.urandom(32) for _ in range(2000)]
    records = _records(keys)
    store = MemberStore(tmp_path)
    store.save_sent(3, records)
    for key in keys:
        assert store.sent_record(3, key) == records[key]
    assert store.sent_record(3, b"\x00" * 30 + b"\x00\x02") is None
    assert store.sent_record(3, os.urandom(32)) is None


def test_an_empty_version_holds_no_record(tmp_path: Path) -> None:
    store = MemberStore(tmp_path)
    store.save_sent(1, _records([]))
    assert store.sent_record(1, os.urandom(32)) is None


def test_a_version_not_kept_is_a_key_error(tmp_path: Path) -> None:
    store = MemberStore(tmp_path)
    for version in range(1, KEEP_SENT + 2):
        store.save_sent(version, _records([os.urandom(32)]))
    assert store.versions() == list(range(2, KEEP_SENT + 2))
    with pytest.raises(KeyError):
        store.sent_record(1, os.urandom(32))


def test_versions_sent_as_json_before_are_still_read_and_counted(tmp_path: Path) -> None:
    store = MemberStore(tmp_path)
    key = os.urandom(32)
    old = Aggregates(2, 1, 700, 0, 3)
    (tmp_path / "sent" / "7.json").write_text(json.dumps({key.hex(): old.as_dict()}))
    assert store.next_version() == 8
    assert store.sent_record(7, key) == old
    assert store.sent_record(7, os.urandom(32)) is None


def test_stored_events_come_back_in_order(tmp_path: Path) -> None:
    from node.query.contribution import EventKind, LoanEvent

    store = MemberStore(tmp_path)
    events = [LoanEvent(EventKind.APPLICATION, 'a "quoted", id', 3),
              LoanEvent(EventKind.LOAN_OPENED, "b", 4, "L1", 700),
              LoanEvent(EventKind.LOAN_CLOSED, "b", 5, "L1")]
    store.add_events(events[:2])
    store.add_events(events[2:])
    assert store.events() == events


@pytest.mark.parametrize("bad", ['{"kind": "gift"}', "not json", '{"kind": "application"}, {}'])
def test_a_stored_line_that_is_not_an_event_is_named(tmp_path: Path, bad: str) -> None:
    from node.query.contribution import EventKind, LoanEvent
    from node.query.errors import QueryError

    store = MemberStore(tmp_path)
    store.add_events([LoanEvent(EventKind.APPLICATION, "a", 3)])
    with open(store.events_file, "a", encoding="utf-8") as out:
        out.write(bad + "\n")
    with pytest.raises(QueryError, match="stored event 2 is not an event"):
        store.events()


def test_a_lookup_kept_before_sending_gives_way_to_its_answer_or_stays_unanswered(
        tmp_path: Path) -> None:
    from dataclasses import replace

    from node.query.consent import LookupRecord, ServerPart

    def record(commitment: str, request: str = "") -> LookupRecord:
        return LookupRecord("job-1", "insurer", "credit_check", "sha256:doc", [
            ServerPart(server, "00" * 32, f"sha256:{commitment}{server}", 7, 100, request)
            for server in ("bank", "telecom")])

    store = MemberStore(tmp_path)
    store.add_record(record("answered-"))  # written before sending
    store.add_record(record("answered-", "sha256:req"))  # its answer
    store.add_record(record("failed-"))  # never answered
    store.add_record(replace(record("failed-"), failed="ServerUnavailable"))  # why, once known
    kept = store.records()
    assert [(r.parts[0].commitment, r.answered, r.failed) for r in kept] == [
        ("sha256:answered-bank", True, ""), ("sha256:failed-bank", False, "ServerUnavailable")]


def test_the_version_both_servers_took_last_outlives_newer_ones_they_did_not(
        tmp_path: Path) -> None:
    store = MemberStore(tmp_path)
    store.save_sent(1, _records([os.urandom(32)]))
    store.save_pushed(1, 20_000)
    for version in range(2, KEEP_SENT + 3):  # sent, and refused by a server
        store.save_sent(version, _records([os.urandom(32)]))
    assert store.versions() == [1, *range(3, KEEP_SENT + 3)]
