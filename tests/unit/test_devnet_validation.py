"""MVCC and phantom validation of a block (pure)."""

from __future__ import annotations

from network.devnet.validation import (
    DUPLICATE_TXID,
    MVCC_READ_CONFLICT,
    PHANTOM_READ_CONFLICT,
    VALID,
    Candidate,
    validate_block,
)
from network.devnet.world_state import WorldState
from network.protoutil import RangeRead, ReadWriteSet


def _state() -> WorldState:
    return WorldState([("a", b"1", 1, 0), ("b", b"2", 1, 1), ("c", b"3", 2, 0)])


def _tx(tx_id: str, reads=None, writes=None, ranges=None) -> Candidate:
    return Candidate(
        tx_id, ReadWriteSet("cc", reads=reads or {}, writes=writes or {}, range_reads=ranges or [])
    )


def test_current_read_is_valid_and_writes_get_block_versions() -> None:
    out = validate_block(5, [_tx("t1", {"a": (1, 0)}, {"a": b"9", "new": b"n"})], _state())
    assert out.codes == [VALID]
    assert out.updates == {"a": (b"9", (5, 0)), "new": (b"n", (5, 0))}


def test_stale_read_is_a_conflict_and_its_writes_are_dropped() -> None:
    out = validate_block(5, [_tx("t1", {"a": (0, 7)}, {"a": b"9"})], _state())
    assert out.codes == [MVCC_READ_CONFLICT]
    assert out.updates == {}


def test_reading_a_missing_key_conflicts_once_it_exists() -> None:
    assert validate_block(5, [_tx("t", {"zz": None})], _state()).codes == [VALID]
    assert validate_block(5, [_tx("t", {"a": None})], _state()).codes == [MVCC_READ_CONFLICT]


def test_earlier_tx_in_same_block_invalidates_a_later_read() -> None:
    txs = [_tx("t1", {"a": (1, 0)}, {"a": b"x"}), _tx("t2", {"a": (1, 0)}, {"a": b"y"})]
    out = validate_block(5, txs, _state())
    assert out.codes == [VALID, MVCC_READ_CONFLICT]
    assert out.updates["a"] == (b"x", (5, 0))


def test_blind_writes_never_conflict_last_one_wins() -> None:
    out = validate_block(
        5, [_tx("t1", writes={"a": b"x"}), _tx("t2", writes={"a": b"y"})], _state()
    )
    assert out.codes == [VALID, VALID]
    assert out.updates["a"] == (b"y", (5, 1))


def test_delete_then_read_conflicts() -> None:
    txs = [_tx("t1", writes={"b": None}), _tx("t2", {"b": (1, 1)})]
    assert validate_block(5, txs, _state()).codes == [VALID, MVCC_READ_CONFLICT]


def test_range_unchanged_is_valid() -> None:
    scan = RangeRead("a", "c", True, (("a", (1, 0)), ("b", (1, 1))))
    assert validate_block(5, [_tx("t", ranges=[scan])], _state()).codes == [VALID]


def test_phantom_insert_in_range_is_detected() -> None:
    scan = RangeRead("a", "c", True, (("a", (1, 0)), ("b", (1, 1))))
    txs = [_tx("t1", writes={"ab": b"new"}), _tx("t2", ranges=[scan])]
    assert validate_block(5, txs, _state()).codes == [VALID, PHANTOM_READ_CONFLICT]


def test_partial_scan_ignores_keys_beyond_what_it_read() -> None:
    scan = RangeRead("a", "", False, (("a", (1, 0)),))
    txs = [_tx("t1", writes={"bz": b"after"}), _tx("t2", ranges=[scan])]
    assert validate_block(5, txs, _state()).codes == [VALID, VALID]


def test_duplicate_tx_id_in_block_or_ledger() -> None:
    txs = [_tx("t1", writes={"a": b"x"}), _tx("t1", writes={"a": b"y"}), _tx("old")]
    out = validate_block(5, txs, _state(), already_committed={"old"})
    assert out.codes == [VALID, DUPLICATE_TXID, DUPLICATE_TXID]
    assert out.updates["a"] == (b"x", (5, 0))


def test_world_state_range_and_apply() -> None:
    ws = _state()
    ws.apply("ab", b"x", (3, 0))
    ws.apply("b", None, (3, 1))
    assert [k for k, _, _ in ws.range("a", "c")] == ["a", "ab", "c"][:2]
    assert [k for k, _, _ in ws.range("a", "")] == ["a", "ab", "c"]
    assert [k for k, _, _ in ws.range("a", "ab", end_inclusive=True)] == ["a", "ab"]
    assert ws.version("ab") == (3, 0) and ws.get("b") is None
