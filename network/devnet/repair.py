"""`alliance network repair`: rebuild the world state, key history, tx index and events of a
devnet ledger by replaying its blocks.

The blocks are the record: each is checked (header hash, link, data hash) before it is
replayed, and a corrupt block stops the repair with its number — nothing is written. Each
block's recomputed state commitment must equal the one it carries; a block whose validation
codes or commitment were altered stops the repair too (which transactions were valid cannot
be re-derived from a damaged record), except that blocks written before commitments existed
get theirs. Everything is rewritten in one SQLite transaction: all or nothing.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from network.devnet import commitment
from network.devnet.integrity import LedgerSummary, verify_database
from network.devnet.replay import replay_block
from network.devnet.store import SCHEMA, checked_block, connect_reader, write_block
from network.errors import DevnetError, LedgerIntegrityError

PAGE = 64
RESTORE_HINT = "restore the ledger file from a backup"


@dataclass(frozen=True)
class RepairReport:
    found: str
    """What the check reported before the repair ("" when the ledger verified)."""
    blocks: int
    transactions: int
    state_keys: int
    commitments_added: int
    seconds: float
    after: LedgerSummary


def diagnose(path: Path) -> str:
    """The integrity check's complaint about the ledger at `path`, or "" when it verifies."""
    conn = connect_reader(path)
    try:
        verify_database(conn)
        return ""
    except LedgerIntegrityError as exc:
        return str(exc)
    finally:
        conn.close()


def repair_ledger(path: Path) -> RepairReport:
    """Rebuild every derived table of the ledger at `path` from its blocks (devnet stopped)."""
    path = Path(path)
    if not path.is_file():
        raise DevnetError(f"no devnet ledger at {path}")
    started = time.perf_counter()
    found = diagnose(path)
    try:
        conn = sqlite3.connect(path, isolation_level=None, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
    except sqlite3.Error as exc:
        raise DevnetError(f"cannot open the ledger database {path}: {exc}") from exc
    try:
        conn.executescript(SCHEMA)
        cur = conn.cursor()
        cur.execute("BEGIN IMMEDIATE")
        try:
            blocks, txs, added = _rebuild(cur)
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise
    except sqlite3.DatabaseError as exc:
        raise LedgerIntegrityError(
            f"the ledger file is damaged at the SQLite level ({exc}); {RESTORE_HINT}"
        ) from exc
    finally:
        conn.close()
    after_conn = connect_reader(path)
    try:
        after = verify_database(after_conn)
    finally:
        after_conn.close()
    return RepairReport(
        found=found,
        blocks=blocks,
        transactions=txs,
        state_keys=after.state_keys,
        commitments_added=added,
        seconds=time.perf_counter() - started,
        after=after,
    )


def _rebuild(cur: sqlite3.Cursor) -> tuple[int, int, int]:
    for table in ("state", "history", "txindex", "events", "checkpoint"):
        cur.execute(f"DELETE FROM {table}")
    previous_hash = b""
    previous_commit = b""
    number = 0
    transactions = 0
    added = 0
    while True:
        rows = cur.execute(
            "SELECT number, hash, previous_hash, data_hash, block FROM blocks "
            "WHERE number >= ? ORDER BY number LIMIT ?",
            (number, PAGE),
        ).fetchall()
        if not rows:
            return number, transactions, added
        for row in rows:
            if row[0] != number:
                raise LedgerIntegrityError(
                    f"block {number} is missing (found {row[0]}); cannot repair: {RESTORE_HINT}"
                )
            try:
                if row[2] != previous_hash:
                    raise LedgerIntegrityError(
                        f"block {number}: previous hash does not link to block {number - 1}"
                    )
                block = checked_block(*row)
                replayed = replay_block(block)
            except LedgerIntegrityError as exc:
                raise LedgerIntegrityError(
                    f"{exc}; the blocks themselves are corrupt, so repair cannot rebuild from "
                    f"them: {RESTORE_HINT}"
                ) from exc
            stored = commitment.stored_commit(block)
            commit = write_block(
                cur,
                block,
                row[1],
                replayed.txs,
                replayed.updates,
                replayed.history,
                previous_commit,
                insert_block=False,
            )
            if not stored:
                added += 1
            elif stored != commit:
                raise LedgerIntegrityError(
                    f"block {number}: a replay of its transactions does not reproduce the state "
                    "commitment it carries, so its validation codes (metadata) or commitment "
                    f"were altered and which transactions were valid is unknown: {RESTORE_HINT}"
                )
            if number > 0:
                transactions += len(block.data.data)
            previous_hash, previous_commit = row[1], commit
            number += 1
