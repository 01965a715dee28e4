"""Devnet's ledger knows its state is the chain's: every stored row is covered by a block's state
commitment or by the world-state check, a flipped byte is named, and repair rebuilds from blocks."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
from fabric_protos.common import common_pb2
from ledger_helpers import CERT, standard_ledger

from network import protoutil as pu
from network.devnet import commitment
from network.devnet.integrity import verify_database, verify_replay
from network.devnet.repair import repair_ledger
from network.devnet.store import LedgerStore, connect_reader
from network.errors import LedgerIntegrityError


def _verify(path: Path):
    conn = connect_reader(path)
    try:
        return verify_database(conn)
    finally:
        conn.close()


def _sql(path: Path, statement: str, *params: object) -> None:
    conn = sqlite3.connect(path)
    with conn:
        conn.execute(statement, params)
    conn.close()


def _state(path: Path) -> list[tuple]:
    conn = sqlite3.connect(path)
    rows = conn.execute("SELECT key, value, block, txnum FROM state ORDER BY key").fetchall()
    conn.close()
    return rows


def _edit_block(path: Path, number: int, edit) -> None:
    conn = sqlite3.connect(path)
    (raw,) = conn.execute("SELECT block FROM blocks WHERE number = ?", (number,)).fetchone()
    block = common_pb2.Block.FromString(raw)
    edit(block)
    with conn:
        conn.execute(
            "UPDATE blocks SET block = ? WHERE number = ?", (block.SerializeToString(), number)
        )
    conn.close()


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    return standard_ledger(tmp_path / "ledger.sqlite")


def test_every_block_carries_a_chained_commitment_and_the_ledger_verifies(ledger) -> None:
    summary = _verify(ledger)
    assert (summary.height, summary.transactions, summary.state_keys) == (6, 7, 3)
    store = LedgerStore(ledger)
    commits = [commitment.stored_commit(store.read_block(n)) for n in range(6)]
    store.close()
    assert all(len(c) == 32 for c in commits) and len(set(commits)) == 6
    assert summary.head_commit == commits[-1].hex()


def test_replay_of_the_blocks_reproduces_every_stored_row(ledger) -> None:
    conn = connect_reader(ledger)
    try:
        assert verify_replay(conn) == 7
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("statement", "named"),
    [
        (
            "UPDATE state SET value = CAST('{\"row_count\":9000}' AS BLOB) "
            "WHERE key = CAST('dataset/telecom/c' AS BLOB)",
            r"key 'dataset/telecom/c' does not match its last write in block 5",
        ),
        (
            "UPDATE state SET txnum = 1 WHERE key = CAST('job/1' AS BLOB)",
            r"key 'job/1' does not match its last write in block 3",
        ),
        (
            "DELETE FROM state WHERE key = CAST('dataset/bank/a' AS BLOB)",
            r"key 'dataset/bank/a' was last written in block 2 .* missing",
        ),
        (
            "INSERT INTO state VALUES (CAST('dataset/bank/b' AS BLOB), CAST('x' AS BLOB), 1, 1)",
            r"key 'dataset/bank/b' was deleted in block 4",
        ),
        (
            "INSERT INTO state VALUES (CAST('forged' AS BLOB), CAST('x' AS BLOB), 1, 0)",
            r"key 'forged' is in the world state .* no block wrote it",
        ),
        (
            "UPDATE history SET value = CAST('{\"row_count\":9000}' AS BLOB) "
            "WHERE key = CAST('dataset/bank/a' AS BLOB) AND block = 1",
            r"^block 1: its state commitment does not match",
        ),
        ("UPDATE history SET timestamp = timestamp + 1 WHERE block = 4", r"^block 4: its state"),
        ("UPDATE txindex SET tx_id = 'f' || substr(tx_id, 2) WHERE block = 5", r"^block 5: its"),
        ("UPDATE txindex SET code = 11 WHERE block = 2", r"^block 2: the tx index says"),
        ("DELETE FROM txindex WHERE block = 3 AND txnum = 1", r"^block 3: its state commitment"),
        ("UPDATE events SET payload = CAST('x' AS BLOB) WHERE block = 1", r"^block 1: its state"),
        ("UPDATE blocks SET hash = zeroblob(32) WHERE number = 2", r"^block [23]: "),
        ("INSERT INTO events VALUES (9, 0, 't', 'cc', 'n', x'00')", r"events row for block 9"),
    ],
)
def test_an_altered_row_is_named(ledger, statement: str, named: str) -> None:
    _sql(ledger, statement)
    with pytest.raises(LedgerIntegrityError, match=named):
        _verify(ledger)


def test_altered_validation_codes_are_caught_by_the_commitment(ledger) -> None:
    def flip_code(block: common_pb2.Block) -> None:
        block.metadata.metadata[common_pb2.BlockMetadataIndex.TRANSACTIONS_FILTER] = bytes([0, 0])

    _edit_block(ledger, 3, flip_code)
    with pytest.raises(LedgerIntegrityError, match=r"^block 3: (the tx index|its state)"):
        _verify(ledger)


def test_altered_commitment_is_caught(ledger) -> None:
    _edit_block(ledger, 4, lambda b: commitment.record_commit(b, b"\x01" * 32))
    with pytest.raises(LedgerIntegrityError, match=r"^block 4: its state commitment"):
        _verify(ledger)


def test_altered_endorser_certificate_in_an_old_block_is_caught_and_never_served(ledger) -> None:
    def flip_cert(block: common_pb2.Block) -> None:
        raw = block.data.data[0]
        at = raw.index(b"ENDORSER-CERT-") + 20
        block.data.data[0] = raw[:at] + bytes([raw[at] ^ 1]) + raw[at + 1 :]

    _edit_block(ledger, 1, flip_cert)
    with pytest.raises(LedgerIntegrityError, match=r"^block 1: data hash does not match"):
        _verify(ledger)
    store = LedgerStore(ledger)
    try:
        with pytest.raises(LedgerIntegrityError, match="block 1: data hash"):
            store.read_block(1)
        assert store.read_block(2) is not None
    finally:
        store.close()


def _flip_every(path: Path, needle: bytes, tmp: Path) -> list[str]:
    """Flip one byte inside each occurrence of `needle` in the file (one copy per flip);
    return what the check says about each copy."""
    data = path.read_bytes()
    found = []
    start = 0
    while (at := data.find(needle, start)) >= 0:
        found.append(at + len(needle) // 2)
        start = at + 1
    assert found, f"{needle!r} not in the file"
    said = []
    for i, at in enumerate(found):
        copy = tmp / f"flip{i}.sqlite"
        copy.write_bytes(data[:at] + bytes([data[at] ^ 0x04]) + data[at + 1 :])
        with pytest.raises(LedgerIntegrityError) as caught:
            _verify(copy)
        said.append(str(caught.value))
    return said


def test_a_flipped_byte_anywhere_in_the_file_is_named(ledger, tmp_path) -> None:
    conn = sqlite3.connect(ledger)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    said = []
    # the dataset value lives in its block's envelope, its history row and its state row
    said += _flip_every(ledger, b'{"row_count":1000}', tmp_path)
    said += _flip_every(ledger, CERT[30:60], tmp_path)  # every block's endorser certificate
    said += _flip_every(ledger, b"dataset/telecom/c", tmp_path)  # keys: envelope, rows, index
    conn = sqlite3.connect(ledger)
    (tx_id,) = conn.execute("SELECT tx_id FROM txindex WHERE block = 3 AND txnum = 1").fetchone()
    conn.close()  # an invalid transaction's id: its envelope, tx index row and index entry
    said += _flip_every(ledger, tx_id.encode(), tmp_path)
    assert len(said) >= 15
    assert any("world state key" in s for s in said)
    assert any("data hash" in s for s in said)
    assert any("state commitment" in s for s in said)


def test_repair_restores_an_altered_and_a_deleted_world_state(ledger) -> None:
    before = _state(ledger)
    _sql(ledger, "UPDATE state SET value = CAST('9000' AS BLOB) WHERE block = 5")
    _sql(ledger, "DELETE FROM state WHERE key = CAST('job/1' AS BLOB)")
    _sql(ledger, "DELETE FROM history WHERE block = 1")
    report = repair_ledger(ledger)
    assert "dataset" in report.found or "block 1" in report.found
    assert (report.blocks, report.transactions, report.state_keys) == (6, 7, 3)
    assert _state(ledger) == before
    assert _verify(ledger).height == 6


def test_repair_rebuilds_everything_after_the_derived_tables_are_emptied(ledger) -> None:
    before = _state(ledger)
    for table in ("state", "history", "txindex", "events"):
        _sql(ledger, f"DELETE FROM {table}")
    repair_ledger(ledger)
    assert _state(ledger) == before
    conn = connect_reader(ledger)
    try:
        assert verify_replay(conn) == 7
    finally:
        conn.close()


def test_repair_refuses_corrupt_blocks_naming_the_block_and_changes_nothing(ledger) -> None:
    _sql(ledger, "DELETE FROM state WHERE block = 5")
    damaged = _state(ledger)

    def flip(block: common_pb2.Block) -> None:
        block.data.data[0] = block.data.data[0][:-1] + b"\x00"

    _edit_block(ledger, 2, flip)
    with pytest.raises(LedgerIntegrityError, match=r"block 2: data hash .* corrupt"):
        repair_ledger(ledger)
    assert _state(ledger) == damaged


def test_repair_refuses_altered_validation_codes(ledger) -> None:
    def revalidate(block: common_pb2.Block) -> None:
        block.metadata.metadata[common_pb2.BlockMetadataIndex.TRANSACTIONS_FILTER] = bytes([0, 0])

    _edit_block(ledger, 3, revalidate)
    with pytest.raises(LedgerIntegrityError, match=r"block 3: a replay .* validation codes"):
        repair_ledger(ledger)


def test_repair_adds_commitments_to_a_ledger_written_before_them(ledger, tmp_path) -> None:
    for n in range(6):
        _edit_block(
            ledger, n, lambda b: b.metadata.metadata.__setitem__(commitment.COMMIT_HASH, b"")
        )
    with pytest.raises(LedgerIntegrityError, match="block 0 has no state commitment"):
        _verify(ledger)
    report = repair_ledger(ledger)
    assert report.commitments_added == 6
    assert _verify(ledger).height == 6


def test_commitments_continue_after_reopening(ledger) -> None:
    store = LedgerStore(ledger)
    block = pu.new_block(6, store.last_hash(), [pu.config_envelope("alliance")], [0])
    store.commit_block(block, pu.block_header_hash(block.header), [], {}, [])
    store.close()
    assert _verify(ledger).height == 7


def test_check_reads_a_copy_without_writing(ledger, tmp_path) -> None:
    copy = tmp_path / "copy.sqlite"
    shutil.copy(ledger, copy)
    mtime = copy.stat().st_mtime_ns
    _verify(copy)
    assert copy.stat().st_mtime_ns == mtime


def _checkpointed(path: Path):
    """Verify once as devnet's start does and record the checkpoint; return it."""
    summary = _verify(path)
    store = LedgerStore(path)
    store.write_checkpoint(summary.checkpoint)
    checkpoint = store.read_checkpoint()
    store.close()
    return checkpoint


def _verify_from(path: Path, checkpoint):
    conn = connect_reader(path)
    try:
        return verify_database(conn, checkpoint)
    finally:
        conn.close()


def test_start_after_a_checkpoint_re_derives_only_newer_blocks(ledger) -> None:
    checkpoint = _checkpointed(ledger)
    assert checkpoint.is_sealed() and checkpoint.height == 6
    store = LedgerStore(ledger)
    block = pu.new_block(6, store.last_hash(), [pu.config_envelope("alliance")], [0])
    store.commit_block(block, pu.block_header_hash(block.header), [], {}, [])
    store.close()
    summary = _verify_from(ledger, checkpoint)
    assert (summary.height, summary.rows_checked_from) == (7, 6)


def test_with_a_checkpoint_block_bytes_metadata_and_world_state_are_still_checked(
    ledger, tmp_path
) -> None:
    checkpoint = _checkpointed(ledger)
    cases = {
        "world state": (
            lambda p: _sql(p, "UPDATE state SET value = CAST('x' AS BLOB) WHERE block = 5"),
            r"world state key 'dataset/telecom/c'",
        ),
        "block data": (
            lambda p: _edit_block(
                p, 1, lambda b: b.data.data.__setitem__(0, b.data.data[0][:-1] + b"!")
            ),
            r"^block 1: data hash",
        ),
        "validation codes": (
            lambda p: _edit_block(
                p,
                3,
                lambda b: b.metadata.metadata.__setitem__(
                    common_pb2.BlockMetadataIndex.TRANSACTIONS_FILTER, bytes([0, 0])
                ),
            ),
            r"metadata .* of a block below 6 changed",
        ),
        "removed block": (
            lambda p: _sql(p, "DELETE FROM blocks WHERE number = 5"),
            r"6 were verified at an earlier start",
        ),
    }
    for name, (damage, named) in cases.items():
        copy = tmp_path / f"{name}.sqlite"
        shutil.copy(ledger, copy)
        damage(copy)
        with pytest.raises(LedgerIntegrityError, match=named):
            _verify_from(copy, checkpoint)


def test_old_derived_rows_are_left_to_the_audit_when_a_checkpoint_covers_them(ledger) -> None:
    checkpoint = _checkpointed(ledger)
    _sql(ledger, "UPDATE events SET payload = CAST('x' AS BLOB) WHERE block = 1")
    assert _verify_from(ledger, checkpoint).rows_checked_from == 6
    with pytest.raises(LedgerIntegrityError, match=r"^block 1: its state commitment"):
        _verify(ledger)  # what `alliance audit chain` runs


def test_an_altered_checkpoint_is_ignored_and_everything_re_derived(ledger) -> None:
    checkpoint = _checkpointed(ledger)
    _sql(ledger, "UPDATE checkpoint SET height = 2")
    store = LedgerStore(ledger)
    altered = store.read_checkpoint()
    store.close()
    assert not altered.is_sealed()
    assert _verify_from(ledger, altered).rows_checked_from == 0
    assert checkpoint.is_sealed()


def test_a_replayed_transaction_id_keeps_its_first_index_entry(tmp_path) -> None:
    """A replay committed as DUPLICATE_TXID (as Fabric does) is not indexed again; the check,
    the audit's replay and repair all agree with the commit path."""
    from ledger_helpers import LedgerBuilder, envelope

    from network.devnet.replay import replay_block

    b = LedgerBuilder(tmp_path / "l.sqlite")
    b.block([{"k": b"1"}])
    store = b.store
    dup = pu.TxValidationCode.DUPLICATE_TXID
    block = pu.new_block(2, b.prev, [envelope(1, {"k": b"2"}), envelope(99, {"j": b"3"})], [dup, 0])
    replayed = replay_block(block)
    store.commit_block(
        block, pu.block_header_hash(block.header), replayed.txs, replayed.updates, replayed.history
    )
    assert store.tx_status(replayed.txs[0].tx_id) == (1, 0)  # still its first, VALID entry
    b.close()
    path = tmp_path / "l.sqlite"
    assert _verify(path).height == 3
    conn = connect_reader(path)
    try:
        assert verify_replay(conn) == 3
    finally:
        conn.close()
    assert repair_ledger(path).found == ""
    assert _state(path) == [(b"j", b"3", 2, 1), (b"k", b"1", 1, 0)]
