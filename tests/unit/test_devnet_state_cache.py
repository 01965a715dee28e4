"""The world state served from SQLite through a bounded LRU cache: reads stay correct when
entries are evicted, a block being written is invisible until applied, altered rows are refused."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from ledger_helpers import LedgerBuilder, standard_ledger

from network.devnet.store import LedgerStore
from network.devnet.world_state import ENTRY_OVERHEAD, CachedWorldState, WorldState
from network.errors import LedgerIntegrityError


@pytest.fixture
def many(tmp_path: Path) -> Path:
    b = LedgerBuilder(tmp_path / "l.sqlite")
    for n in range(10):
        b.block([{f"key/{n:02d}/{i:03d}": f"v{n}.{i}".encode() for i in range(50)}])
    b.close()
    return tmp_path / "l.sqlite"


def test_eviction_keeps_the_cache_bounded_and_reads_correct(many) -> None:
    store = LedgerStore(many)
    state = CachedWorldState(store, max_bytes=40 * (ENTRY_OVERHEAD + 20))
    for _ in range(2):
        for n in range(10):
            for i in range(50):
                value, version = state.get(f"key/{n:02d}/{i:03d}")
                assert (value, version) == (f"v{n}.{i}".encode(), (n + 1, 0))
        assert state.get("key/absent") is None
        assert state.cached_bytes <= state.max_bytes
    assert state.misses > 900  # the cache holds ~40 entries: most reads went to SQLite
    assert len(state) == 500
    store.close()


def test_recent_reads_are_cache_hits(many) -> None:
    store = LedgerStore(many)
    state = CachedWorldState(store)
    state.get("key/03/007")
    state.get("key/03/007")
    assert (state.hits, state.misses) == (1, 1) and "key/03/007" in state
    store.close()


def test_range_scans_page_through_sqlite_in_key_order(many) -> None:
    store = LedgerStore(many)
    state = CachedWorldState(store, max_bytes=1000)
    memory = WorldState(store.state_rows())
    for start, end, inclusive in [
        ("", "", False),
        ("key/02/", "key/08/", False),
        ("key/05/010", "key/05/020", True),
    ]:
        got = list(state.range(start, end, end_inclusive=inclusive))
        assert got == list(memory.range(start, end, end_inclusive=inclusive))
    assert len(list(state.range("", ""))) == 500
    store.close()


def test_a_block_being_written_is_invisible_until_applied(tmp_path: Path) -> None:
    """Between pin and apply the SQLite file already holds the block; reads must not see it."""
    path = standard_ledger(tmp_path / "l.sqlite")
    store = LedgerStore(path)
    state = CachedWorldState(store, max_bytes=0)  # nothing cached: every read goes to SQLite
    updates = {
        "dataset/bank/a": (b"new", (6, 0)),
        "dataset/bank/z": (b"z", (6, 0)),
        "job/1": (None, (6, 0)),
    }
    before = {k: state.get(k) for k in updates}
    scan_before = list(state.range("", ""))
    state.pin(updates)
    with sqlite3.connect(path) as conn:  # what the commit thread writes meanwhile
        conn.execute(
            "UPDATE state SET value = CAST('new' AS BLOB), block = 6, txnum = 0 "
            "WHERE key = CAST('dataset/bank/a' AS BLOB)"
        )
        conn.execute(
            "INSERT INTO state VALUES (CAST('dataset/bank/z' AS BLOB), CAST('z' AS BLOB), 6, 0)"
        )
        conn.execute("DELETE FROM state WHERE key = CAST('job/1' AS BLOB)")
        for key, value in (("dataset/bank/a", "new"), ("dataset/bank/z", "z")):
            conn.execute(
                "INSERT INTO history VALUES (CAST(? AS BLOB), 6, 0, 't', 0, CAST(? AS BLOB), 0)",
                (key, value),
            )
    assert {k: state.get(k) for k in updates} == before
    assert list(state.range("", "")) == scan_before
    state.apply_block(updates)
    assert state.get("dataset/bank/a") == (b"new", (6, 0))
    assert state.get("job/1") is None
    assert [k for k, _, _ in state.range("dataset/", "dataset/zz")] == [
        "dataset/bank/a",
        "dataset/bank/z",
        "dataset/telecom/c",
    ]
    store.close()


def test_an_altered_row_is_refused_on_read(tmp_path: Path) -> None:
    path = standard_ledger(tmp_path / "l.sqlite")
    with sqlite3.connect(path) as conn:
        conn.execute(
            "UPDATE state SET value = CAST('{\"row_count\":9000}' AS BLOB) "
            "WHERE key = CAST('dataset/telecom/c' AS BLOB)"
        )
    store = LedgerStore(path)
    state = CachedWorldState(store)
    with pytest.raises(LedgerIntegrityError, match=r"'dataset/telecom/c' .* block 5"):
        state.get("dataset/telecom/c")
    with pytest.raises(LedgerIntegrityError, match=r"'dataset/telecom/c' .* block 5"):
        list(state.range("dataset/", "dataset/zz"))
    assert state.get("dataset/bank/a") is not None
    store.close()
