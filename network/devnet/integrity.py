"""The ledger check devnet runs at start and `alliance audit chain` runs on demand.

One read-only pass over a consistent SQLite snapshot, in block order:
- every block: numbers contiguous, header hash recomputed, linked to the block before, data hash
  over its transactions, one validation code per transaction (`store.checked_block`);
- every block's state commitment (network.devnet.commitment) re-derived from the rows stored
  with it — tx index, state changes (key history), events — and from its validation codes,
  chained from the one before: a flipped byte in any of those rows or in the block's metadata
  names the block;
- the world state: every key's row must be its last change in the history (value and version),
  deleted keys absent, no key without a change: an altered row names the key and its block.

`verify_replay` (the audit's deeper check) also replays every block's write sets (VALID
transactions only) and requires the commitments they produce to be the stored ones: the stored
rows are then exactly what the blocks' own transactions say.

Blocks, history, index and events are each read once with a sequential cursor, so the cost is
about one read of the file and one sha256 over it (figures in bench/README.md). Re-deriving the
rows is most of it, so devnet's start does it only for blocks after its checkpoint (the height
its previous start verified, sealed, tied to that block's hash and commitment and to a digest
of every older block's metadata); older blocks still get their bytes, hashes and metadata
checked at every start, and the world state is always checked whole. `alliance audit chain`
re-derives everything.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from fabric_protos.common import common_pb2

from network.devnet import commitment
from network.devnet.store import (
    LedgerStore,
    checked_block,
    connect_reader,
    derive_rows,
)
from network.errors import LedgerIntegrityError
from network.protoutil import block_tx_filter, validation_code_name

REPAIR_HINT = "repair it with `alliance network repair --dir NET` (devnet stopped)"


@dataclass(frozen=True)
class LedgerSummary:
    height: int
    transactions: int
    state_keys: int
    head_hash: str
    head_commit: str
    seconds: float
    rows_checked_from: int
    """First block whose derived rows were re-derived (0: all; later: from a checkpoint)."""
    checkpoint: commitment.Checkpoint | None = field(default=None, repr=False)
    """What a later start may skip (None for an empty ledger)."""

    def to_dict(self) -> dict[str, object]:
        return {k: v for k, v in self.__dict__.items() if k != "checkpoint"}


class _Groups:
    """Rows of a cursor ordered by block number, handed out one block at a time."""

    def __init__(self, rows: Iterator[tuple[Any, ...]], table: str) -> None:
        self._rows = rows
        self._table = table
        self._next = next(rows, None)

    def take(self, number: int) -> list[tuple[Any, ...]]:
        out = []
        while self._next is not None and self._next[0] <= number:
            if self._next[0] < number:
                raise LedgerIntegrityError(
                    f"{self._table} row for block {self._next[0]}, which is not in the chain"
                )
            out.append(self._next[1:])
            self._next = next(self._rows, None)
        return out

    def check_exhausted(self, height: int) -> None:
        if self._next is not None:
            raise LedgerIntegrityError(
                f"{self._table} row for block {self._next[0]}, beyond the chain's height {height}"
            )


def verify_ledger_store(
    store: LedgerStore, checkpoint: commitment.Checkpoint | None = None
) -> LedgerSummary:
    """`verify_database` on a fresh read-only connection to the store's file."""
    conn = connect_reader(store.path)
    try:
        return verify_database(conn, checkpoint)
    finally:
        conn.close()


def verify_database(
    conn: sqlite3.Connection, checkpoint: commitment.Checkpoint | None = None
) -> LedgerSummary:
    """Check the ledger behind `conn` (read-only use); raise LedgerIntegrityError on the first
    block or key that does not verify.

    Every block's bytes and metadata, and the whole world state, are always checked. With a
    valid `checkpoint` the rows derived from blocks it covers (tx index, history, events) are
    not re-derived — `alliance audit chain` passes none and checks everything."""
    started = time.perf_counter()
    conn.execute("BEGIN")  # one snapshot for every cursor below, even while devnet commits
    try:
        chain = _Chain(conn, checkpoint)
        chain.run()
        keys = _verify_state(conn)
    except sqlite3.DatabaseError as exc:
        raise LedgerIntegrityError(
            f"the ledger file is damaged at the SQLite level ({exc}); {REPAIR_HINT}, "
            "or restore it from a backup"
        ) from exc
    finally:
        conn.execute("ROLLBACK")
    return LedgerSummary(
        height=chain.height,
        transactions=chain.transactions,
        state_keys=keys,
        head_hash=chain.previous_hash.hex(),
        head_commit=chain.previous_commit.hex(),
        seconds=time.perf_counter() - started,
        rows_checked_from=chain.full_from,
        checkpoint=commitment.Checkpoint(
            chain.height, chain.previous_hash, chain.previous_commit, chain.metadata
        )
        if chain.height
        else None,
    )


class _Chain:
    """One pass over the blocks in order (see the module docstring)."""

    def __init__(self, conn: sqlite3.Connection, checkpoint: commitment.Checkpoint | None) -> None:
        self.conn = conn
        self.checkpoint = checkpoint if checkpoint is not None and checkpoint.is_sealed() else None
        self.full_from = self.checkpoint.height if self.checkpoint else 0
        self.height = 0
        self.transactions = 0
        self.previous_hash = b""
        self.previous_commit = b""
        self.metadata = b""

    def _groups(self, sql: str, table: str) -> _Groups:
        return _Groups(self.conn.execute(sql, (self.full_from,)), table)

    def run(self) -> None:
        index = self._groups(
            "SELECT block, txnum, tx_id, code FROM txindex INDEXED BY txindex_by_block "
            "WHERE block >= ? ORDER BY block, txnum",
            "tx index",
        )
        changes = self._groups(
            "SELECT block, txnum, key, tx_id, timestamp, value, is_delete FROM history "
            "INDEXED BY history_by_block WHERE block >= ? ORDER BY block, txnum, key",
            "history",
        )
        events = self._groups(
            "SELECT block, txnum, tx_id, chaincode, name, payload FROM events "
            "WHERE block >= ? ORDER BY block, txnum",
            "events",
        )
        for row in self.conn.execute(
            "SELECT number, hash, previous_hash, data_hash, block FROM blocks ORDER BY number"
        ):
            number, block_hash, prev = row[0], row[1], row[2]
            if number != self.height:
                raise LedgerIntegrityError(f"block {self.height} is missing (found {number})")
            if prev != self.previous_hash:
                raise LedgerIntegrityError(
                    f"block {number}: previous hash does not link to block {number - 1}"
                )
            block = checked_block(*row)
            stored = commitment.stored_commit(block)
            if not stored:
                raise LedgerIntegrityError(
                    f"block {number} has no state commitment (written by an older devnet); "
                    f"{REPAIR_HINT} to compute them"
                )
            if number >= self.full_from:
                self._check_rows(number, block_hash, block, stored, index, changes, events)
            if number > 0:
                self.transactions += len(block.data.data)
            self.metadata = commitment.metadata_step(self.metadata, number, block)
            self.previous_hash, self.previous_commit = block_hash, stored
            self.height += 1
            if self.checkpoint is not None and self.height == self.checkpoint.height:
                self._check_checkpoint()
        if self.checkpoint is not None and self.height < self.checkpoint.height:
            raise LedgerIntegrityError(
                f"the chain has {self.height} blocks but {self.checkpoint.height} were verified "
                f"at an earlier start: blocks were removed; restore the ledger from a backup"
            )
        for groups in (index, changes, events):
            groups.check_exhausted(self.height)

    def _check_checkpoint(self) -> None:
        cp = self.checkpoint
        assert cp is not None
        if (cp.block_hash, cp.commit) != (self.previous_hash, self.previous_commit):
            raise LedgerIntegrityError(
                f"block {cp.height - 1}: its hash or state commitment differs from the one "
                f"verified at an earlier start; {REPAIR_HINT}"
            )
        if cp.metadata != self.metadata:
            raise LedgerIntegrityError(
                f"the metadata (validation codes or state commitments) of a block below "
                f"{cp.height} changed since an earlier start; run `alliance audit chain` to "
                "name it"
            )

    def _check_rows(
        self,
        number: int,
        block_hash: bytes,
        block: common_pb2.Block,
        stored: bytes,
        index: _Groups,
        changes: _Groups,
        events: _Groups,
    ) -> None:
        index_rows = index.take(number)
        codes = block_tx_filter(block)
        for txnum, tx_id, code in index_rows:
            if txnum >= len(codes) or codes[txnum] != code:
                raise LedgerIntegrityError(
                    f"block {number}: the tx index says {tx_id} (tx {txnum}) is "
                    f"{validation_code_name(code)}, the block does not; {REPAIR_HINT}"
                )
        change_rows = [
            (txnum, key, tx_id, ts, None if is_delete else value)
            for txnum, key, tx_id, ts, value, is_delete in changes.take(number)
        ]
        commit = commitment.chain(
            self.previous_commit,
            block_hash,
            codes,
            commitment.index_digest(index_rows),  # type: ignore[arg-type]
            commitment.changes_digest(change_rows),
            commitment.events_digest(events.take(number)),  # type: ignore[arg-type]
        )
        if commit != stored:
            raise LedgerIntegrityError(
                f"block {number}: its state commitment does not match its tx index, state "
                "changes (key history) or events as stored, or its validation codes; " + REPAIR_HINT
            )


_STATE_CHECK = """
WITH latest AS (
    SELECT key, MAX(block * 4294967296 + txnum) AS version, block, txnum, value, is_delete
    FROM history GROUP BY key)
SELECT l.key, l.block, l.txnum,
    CASE WHEN l.is_delete THEN 'deleted' WHEN s.key IS NULL THEN 'missing' ELSE 'differs' END
FROM latest l LEFT JOIN state s ON s.key = l.key
WHERE (l.is_delete AND s.key IS NOT NULL)
   OR (NOT l.is_delete AND (s.key IS NULL OR s.block IS NOT l.block
       OR s.txnum IS NOT l.txnum OR s.value IS NOT l.value))
UNION ALL
SELECT s.key, s.block, s.txnum, 'unwritten' FROM state s
WHERE NOT EXISTS (SELECT 1 FROM history h WHERE h.key = s.key)
LIMIT 1
"""


def _verify_state(conn: sqlite3.Connection) -> int:
    """Every world-state row is its key's last change; return the number of keys."""
    bad = conn.execute(_STATE_CHECK).fetchone()
    if bad is not None:
        key, block, txnum, what = bad
        name = key.decode(errors="replace")
        detail = {
            "deleted": f"was deleted in block {block} (tx {txnum}) but is still in the world state",
            "missing": f"was last written in block {block} (tx {txnum}) but is missing from "
            "the world state",
            "differs": f"does not match its last write in block {block} (tx {txnum})",
            "unwritten": f"is in the world state (version {block}.{txnum}) but no block wrote it",
        }[what]
        raise LedgerIntegrityError(f"world state key {name!r} {detail}; {REPAIR_HINT}")
    return conn.execute("SELECT COUNT(*) FROM state").fetchone()[0]


def verify_replay(conn: sqlite3.Connection, page: int = 64) -> int:
    """Replay every block's transactions and compare the commitments they produce with the
    stored ones (after `verify_database`); return the number of transactions replayed."""
    from network.devnet.replay import replay_block

    conn.execute("BEGIN")
    try:
        previous_commit = b""
        number = 0
        replayed_txs = 0
        while True:
            rows = conn.execute(
                "SELECT number, hash, previous_hash, data_hash, block FROM blocks "
                "WHERE number >= ? ORDER BY number LIMIT ?",
                (number, page),
            ).fetchall()
            if not rows:
                return replayed_txs
            for row in rows:
                block = checked_block(*row)
                replayed = replay_block(block)

                def earlier(ids: list[str], n: int = row[0]) -> set[str]:
                    return _indexed_before(conn, ids, n)

                derived = derive_rows(
                    block, row[1], replayed.txs, replayed.history, previous_commit, earlier
                )
                if derived.commit != commitment.stored_commit(block):
                    raise LedgerIntegrityError(
                        f"block {row[0]}: replaying its transactions does not reproduce its "
                        f"state commitment (stored rows or validation codes differ); {REPAIR_HINT}"
                    )
                replayed_txs += len(replayed.txs)
                previous_commit = derived.commit
                number = row[0] + 1
    except sqlite3.DatabaseError as exc:
        raise LedgerIntegrityError(
            f"the ledger file is damaged at the SQLite level ({exc})"
        ) from exc
    finally:
        conn.execute("ROLLBACK")


def _indexed_before(conn: sqlite3.Connection, ids: list[str], number: int) -> set[str]:
    found: set[str] = set()
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        found.update(
            r[0]
            for r in conn.execute(
                f"SELECT tx_id FROM txindex WHERE block < ? AND tx_id IN "
                f"({','.join('?' * len(chunk))})",
                (number, *chunk),
            )
        )
    return found
