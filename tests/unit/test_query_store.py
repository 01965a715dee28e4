"""A query server's durable store and its period summaries."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from alliance.fingerprint import merkle_proof, verify_merkle_proof
from node.query.authorize import (
    PolicyAuthorizer,
    QueryContext,
    QueryPolicy,
    summarize,
)
from node.query.errors import ContributionError, QueryRefused
from node.query.store import KEEP_VERSIONS, LogRow, ServerStore

SLOTS = 1024
CONSENT = "sha256:" + "0f" * 32


def test_contributions_survive_reopening_and_versions_must_increase(tmp_path: Path) -> None:
    store = ServerStore(tmp_path, SLOTS)
    vector = np.arange(SLOTS * 2, dtype=np.uint64).reshape(SLOTS, 2)
    store.save_masked("bank", 3, vector)
    store.save_seed("telecom", 1, b"s" * 16)
    with pytest.raises(ContributionError, match="versions must increase"):
        store.save_seed("telecom", 1, b"t" * 16)
    store.close()
    again = ServerStore(tmp_path, SLOTS)
    assert again.versions() == {"bank": [3], "telecom": [1]}
    assert np.array_equal(again.load("bank", 3)[1], vector)
    assert again.load("telecom", 1)[0] == b"s" * 16


def test_only_the_newest_versions_are_kept_on_disk(tmp_path: Path) -> None:
    store = ServerStore(tmp_path, SLOTS)
    for version in range(KEEP_VERSIONS + 2):
        store.save_masked("bank", version, np.zeros((SLOTS, 2), dtype=np.uint64))
    assert store.versions()["bank"] == list(range(2, KEEP_VERSIONS + 2))
    assert len(list((tmp_path / "contrib").glob("*.bin"))) == KEEP_VERSIONS


def _chunks(vector: np.ndarray, size: int = 4096) -> list[bytes]:
    raw = vector.tobytes()
    return [raw[i:i + size] for i in range(0, len(raw), size)]


def test_a_masked_vector_is_stored_as_it_arrives_and_read_back_by_rows(tmp_path: Path) -> None:
    store = ServerStore(tmp_path, SLOTS)
    vector = np.arange(SLOTS * 2, dtype=np.uint64).reshape(SLOTS, 2)
    store.save_masked_chunks("bank", 1, _chunks(vector))
    assert np.array_equal(store.load("bank", 1)[1], vector)
    assert np.array_equal(store.load("bank", 1, 256, 128)[1], vector[256:384])


@pytest.mark.parametrize("cut", [-16, 16])
def test_a_segment_of_the_wrong_size_leaves_no_file(tmp_path: Path, cut: int) -> None:
    store = ServerStore(tmp_path, SLOTS)
    chunks = _chunks(np.zeros((SLOTS, 2), dtype=np.uint64))
    chunks[-1] = chunks[-1][:cut] if cut < 0 else chunks[-1] + b"\x00" * cut
    with pytest.raises(ContributionError, match="a masked segment is 16384 bytes"):
        store.save_masked_chunks("bank", 1, chunks)
    assert list((tmp_path / "contrib").iterdir()) == []
    assert store.versions() == {}


def test_a_replayed_version_keeps_the_stored_vector(tmp_path: Path) -> None:
    store = ServerStore(tmp_path, SLOTS)
    first = np.ones((SLOTS, 2), dtype=np.uint64)
    store.save_masked("bank", 2, first)
    with pytest.raises(ContributionError, match="versions must increase"):
        store.save_masked("bank", 2, np.zeros((SLOTS, 2), dtype=np.uint64))
    assert np.array_equal(store.load("bank", 2)[1], first)
    assert len(list((tmp_path / "contrib").iterdir())) == 1


def test_what_a_crash_left_of_an_upload_is_removed_at_start(tmp_path: Path) -> None:
    store = ServerStore(tmp_path, SLOTS)
    store.save_masked("bank", 1, np.ones((SLOTS, 2), dtype=np.uint64))
    store.close()
    (tmp_path / "contrib" / "bank-2-0badc0de.tmp").write_bytes(b"\x00" * 100)
    (tmp_path / "contrib" / "bank-2-0badc0de.bin").write_bytes(b"\x00" * SLOTS * 16)
    again = ServerStore(tmp_path, SLOTS)
    assert [p.name for p in (tmp_path / "contrib").iterdir()] == [
        again._db.execute("SELECT file FROM contributions").fetchone()[0]]
    assert again.versions() == {"bank": [1]}


def test_a_repeated_nonce_is_a_replay(tmp_path: Path) -> None:
    store = ServerStore(tmp_path, SLOTS)
    store.log_query(10, 0, "bank", "credit_check", CONSENT, "n1", "sha256:aa")
    with pytest.raises(QueryRefused, match="already answered") as refused:
        store.log_query(11, 0, "bank", "credit_check", CONSENT, "n1", "sha256:bb")
    assert refused.value.code == "replay"
    assert store.used("bank", 0) == 1


def test_the_period_summary_counts_members_and_proves_each_entry(tmp_path: Path) -> None:
    store = ServerStore(tmp_path, SLOTS)
    for i, asker in enumerate(["bank", "platform", "bank", "bank"]):
        store.log_query(100 + i, 0, asker, "credit_check", CONSENT, f"n{i}", f"sha256:{i:064x}")
    store.log_query(500, 0, "platform", "credit_check", CONSENT, "late", "sha256:" + "e" * 64)
    entries = store.log_entries(100, 200)
    summary = summarize("telecom", 100, 200, entries)
    assert dict(summary.counts) == {"bank": 3, "platform": 1} and summary.entries == 4
    leaves = [e.leaf() for e in entries]
    assert verify_merkle_proof(leaves[2], merkle_proof(leaves, 2), summary.merkle_root)
    assert summary.digest() != summarize("telecom", 100, 600, store.log_entries(100, 600)).digest()


@pytest.mark.parametrize(("asker", "purpose", "consent", "used", "code"), [
    ("outsider", "credit_check", CONSENT, 0, "not_member"),
    ("bank", "advertising", CONSENT, 0, "bad_purpose"),
    ("bank", "credit_check", "sha256:short", 0, "no_consent"),
    ("bank", "credit_check", CONSENT, 5, "over_quota"),
])
def test_the_policy_refuses_with_a_stable_code(asker: str, purpose: str, consent: str,
                                               used: int, code: str) -> None:
    policy = PolicyAuthorizer(QueryPolicy(frozenset({"bank"}), frozenset({"credit_check"}), 5))
    with pytest.raises(QueryRefused) as refused:
        policy.authorize(QueryContext(asker, purpose, consent, 0, "sha256:x"), used)
    assert refused.value.code == code


def test_the_policy_lets_a_member_within_its_terms_through() -> None:
    policy = PolicyAuthorizer(QueryPolicy(frozenset({"bank"}), frozenset({"credit_check"}), 5,
                                          {"bank": 6}))
    policy.authorize(QueryContext("bank", "credit_check", CONSENT, 0, "sha256:x"), 5)


def test_the_daily_count_is_kept_across_reopening_and_a_replay_does_not_count(
        tmp_path: Path) -> None:
    """The quota count is held in memory once read: it must start from the log after a
    restart and move only with entries actually logged."""
    store = ServerStore(tmp_path, SLOTS)
    assert store.used("bank", 7) == 0
    for nonce in ("n1", "n2"):
        store.log_query(7 * 86400, 7, "bank", "credit_check", CONSENT, nonce, "sha256:00")
    store.log_query(8 * 86400, 8, "bank", "credit_check", CONSENT, "n3", "sha256:00")
    with pytest.raises(QueryRefused):
        store.log_query(7 * 86400, 7, "bank", "credit_check", CONSENT, "n1", "sha256:00")
    assert (store.used("bank", 7), store.used("bank", 8), store.used("telecom", 7)) == (2, 1, 0)
    store.close()
    again = ServerStore(tmp_path, SLOTS)
    assert (again.used("bank", 7), again.used("bank", 8)) == (2, 1)
    again.log_query(7 * 86400, 7, "bank", "credit_check", CONSENT, "n4", "sha256:00")
    assert again.used("bank", 7) == 3 and len(again.log_entries(0, 2**40)) == 4


def _row(nonce: str, asker: str = "bank", day: int = 7) -> LogRow:
    return LogRow(day * 86400, day, asker, "credit_check", CONSENT, nonce, "sha256:00")


def test_a_batch_logs_each_query_and_refuses_a_replay_within_it_alone(tmp_path: Path) -> None:
    store = ServerStore(tmp_path, SLOTS)
    got = store.log_queries([_row("n1"), _row("n1"), _row("n2")])
    assert isinstance(got[0], int) and isinstance(got[2], int) and got[2] > got[0]
    assert isinstance(got[1], QueryRefused) and got[1].code == "replay"
    assert store.used("bank", 7) == 2 and len(store.log_entries(0, 2**40)) == 2


def test_the_authorizer_sees_the_count_of_the_rows_logged_before_it_in_a_batch(
        tmp_path: Path) -> None:
    store = ServerStore(tmp_path, SLOTS)
    seen: list[int] = []

    def quota_of_two(index: int, used: int) -> None:
        seen.append(used)
        if used >= 2:
            raise QueryRefused("over_quota", "used its 2 queries today")

    got = store.log_queries([_row(f"n{i}") for i in range(4)], quota_of_two)
    assert seen == [0, 1, 2, 2]
    assert [isinstance(g, int) for g in got] == [True, True, False, False]
    assert store.used("bank", 7) == 2


def test_a_batch_that_fails_midway_logs_none_of_it_and_counts_from_the_log(
        tmp_path: Path) -> None:
    store = ServerStore(tmp_path, SLOTS)
    store.log_query(7 * 86400, 7, "bank", "credit_check", CONSENT, "n0", "sha256:00")

    def broken(index: int, used: int) -> None:
        if index == 2:
            raise RuntimeError("the authorizer's ledger went away")

    with pytest.raises(RuntimeError):
        store.log_queries([_row(f"n{i}") for i in range(1, 4)], broken)
    assert store.used("bank", 7) == 1 and len(store.log_entries(0, 2**40)) == 1
    assert isinstance(store.log_queries([_row("n1")])[0], int)  # not taken by the failed batch


def test_queries_are_logged_with_their_job_and_read_by_it(tmp_path: Path) -> None:
    store = ServerStore(tmp_path, SLOTS)
    store.log_query(100, 0, "bank", "credit_check", CONSENT, "a", "sha256:" + "a" * 64, "job-1")
    store.log_query(110, 0, "bank", "credit_check", CONSENT, "b", "sha256:" + "b" * 64, "job-2")
    assert [e.at for e in store.log_entries(0, 200, "job-2")] == [110]
    assert len(store.log_entries(0, 200)) == 2  # any job
    assert store.log_jobs() == ["job-1", "job-2"] and store.last_logged("job-1") == 100
    entry, job = store.log_entry(2) or (None, "")
    assert (entry.at if entry else None, job) == (110, "job-2")


def test_a_log_of_an_earlier_version_gets_its_queries_attributed_to_the_job_in_force(
        tmp_path: Path) -> None:
    import sqlite3

    with sqlite3.connect(tmp_path / "state.sqlite") as db:  # the queries table before jobs
        db.execute("CREATE TABLE queries (seq INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT "
                   "NULL, day INTEGER NOT NULL, asker TEXT NOT NULL, purpose TEXT NOT NULL, "
                   "consent TEXT NOT NULL, nonce TEXT NOT NULL UNIQUE, request TEXT NOT NULL)")
        db.execute("INSERT INTO queries (at, day, asker, purpose, consent, nonce, request) "
                   "VALUES (100, 0, 'bank', 'credit_check', ?, 'n', 'sha256:x')", (CONSENT,))
    store = ServerStore(tmp_path, SLOTS)
    assert store.log_entries(0, 200, "job-1") == [] and store.log_jobs() == []
    assert store.assign_unattributed("job-1") == 1
    assert [e.at for e in store.log_entries(0, 200, "job-1")] == [100]
    assert store.log_jobs() == ["job-1"] and store.assign_unattributed("job-2") == 0


def test_the_version_a_held_table_was_formed_from_outlives_newer_ones(tmp_path: Path) -> None:
    """The other server refused versions 2.. (never took them): the table both form epochs
    from still needs version 1."""
    store = ServerStore(tmp_path, SLOTS)
    store.served = lambda member: {1} if member == "bank" else set()
    for version in range(1, KEEP_VERSIONS + 3):
        store.save_seed("bank", version, bytes(16))
    assert store.versions()["bank"] == [1, *range(3, KEEP_VERSIONS + 3)]
