"""Devnet's durable ledger in SQLite: blocks, world state, key history, tx index, events.

One SQLite transaction per block (WAL, synchronous=FULL): a block, its state updates, history,
index and events are on disk together or not at all, so a SIGKILL at any moment leaves a
consistent ledger, and anything reported committed survives. Each block carries its state
commitment (network.devnet.commitment), computed here from exactly the rows written with it, so
`network.devnet.integrity` can re-derive and check every row. The writer connection belongs to
the commit thread; readers use their own connection.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from fabric_protos.common import common_pb2

from network.devnet import commitment
from network.errors import DevnetError, LedgerIntegrityError
from network.protoutil import Version, block_data_hash, block_header_hash, block_tx_filter

SCHEMA = """
CREATE TABLE IF NOT EXISTS blocks (
    number INTEGER PRIMARY KEY, hash BLOB NOT NULL, previous_hash BLOB NOT NULL,
    data_hash BLOB NOT NULL, block BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS state (
    key BLOB PRIMARY KEY, value BLOB NOT NULL, block INTEGER NOT NULL, txnum INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS history (
    key BLOB NOT NULL, block INTEGER NOT NULL, txnum INTEGER NOT NULL, tx_id TEXT NOT NULL,
    timestamp INTEGER NOT NULL, value BLOB, is_delete INTEGER NOT NULL,
    PRIMARY KEY (key, block, txnum)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS txindex (
    tx_id TEXT PRIMARY KEY, block INTEGER NOT NULL, txnum INTEGER NOT NULL, code INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (
    block INTEGER NOT NULL, txnum INTEGER NOT NULL, tx_id TEXT NOT NULL, chaincode TEXT NOT NULL,
    name TEXT NOT NULL, payload BLOB NOT NULL, PRIMARY KEY (block, txnum)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS checkpoint (
    id INTEGER PRIMARY KEY CHECK (id = 0), height INTEGER NOT NULL, block_hash BLOB NOT NULL,
    commit_hash BLOB NOT NULL, metadata BLOB NOT NULL, seal BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS history_by_block ON history (block, txnum, key);
CREATE INDEX IF NOT EXISTS txindex_by_block ON txindex (block, txnum);
"""

StateEntry = tuple[bytes, Version]
"""A committed value and the version (block, txnum) of the write that set it."""


@dataclass(frozen=True)
class TxRecord:
    tx_id: str
    txnum: int
    code: int
    timestamp: int
    event: tuple[str, str, bytes] | None
    """(chaincode, name, payload) of a valid transaction's chaincode event."""


@dataclass(frozen=True)
class StoredEvent:
    block_number: int
    txnum: int
    tx_id: str
    chaincode_id: str
    event_name: str
    payload: bytes


def _connect(path: Path, *, writer: bool) -> sqlite3.Connection:
    if not writer and not Path(path).is_file():
        raise DevnetError(f"no ledger database at {path}")
    try:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL" if writer else "PRAGMA query_only=ON")
    except sqlite3.Error as exc:
        raise DevnetError(f"cannot open the ledger database {path}: {exc}") from exc
    return conn


def connect_reader(path: Path) -> sqlite3.Connection:
    """A read-only connection (checks and audits; safe while devnet writes)."""
    return _connect(path, writer=False)


class LedgerStore:
    """The SQLite file under NET/devnet/ledger.sqlite."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = _connect(self.path, writer=True)
        self._writer.executescript(SCHEMA)
        self._reader = _connect(self.path, writer=False)
        self._last_commit = self._head_commit()

    def close(self) -> None:
        self._reader.close()
        self._writer.close()

    # -- reads ----------------------------------------------------------------------------------

    def height(self) -> int:
        row = self._reader.execute("SELECT MAX(number) FROM blocks").fetchone()
        return 0 if row[0] is None else row[0] + 1

    def last_hash(self) -> bytes:
        row = self._reader.execute(
            "SELECT hash FROM blocks ORDER BY number DESC LIMIT 1"
        ).fetchone()
        return b"" if row is None else row[0]

    def _head_commit(self) -> bytes:
        row = self._reader.execute(
            "SELECT number, block FROM blocks ORDER BY number DESC LIMIT 1"
        ).fetchone()
        return b"" if row is None else commitment.stored_commit(_parse_block(row[1], row[0]))

    def state_rows(self) -> Iterator[tuple[str, bytes, int, int]]:
        for key, value, block, txnum in self._reader.execute(
            "SELECT key, value, block, txnum FROM state"
        ):
            yield key.decode(), value, block, txnum

    def state_count(self) -> int:
        return self._reader.execute("SELECT COUNT(*) FROM state").fetchone()[0]

    def state_entry(self, key: str) -> StateEntry | None:
        """A key's committed value and version, checked against its last change in the history
        (one index lookup): a world-state row that was altered raises LedgerIntegrityError."""
        row = self._reader.execute(
            "SELECT s.value, s.block, s.txnum, h.value, h.is_delete FROM state s "
            "LEFT JOIN history h ON h.key = s.key AND h.block = s.block AND h.txnum = s.txnum "
            "WHERE s.key = ?",
            (key.encode(),),
        ).fetchone()
        if row is None:
            return None
        value, block, txnum, written, is_delete = row
        _check_state_row(key, value, block, txnum, written, is_delete)
        return value, (block, txnum)

    def state_range(
        self, start: str, end: str, *, end_inclusive: bool = False, limit: int = 256
    ) -> list[tuple[str, bytes, Version]]:
        """Up to `limit` committed keys in [start, end) (or [start, end]) in key order; empty
        end: no bound. Callers page by passing the last key returned + "\x00" as `start`.
        Each row is checked against its write in the history, as `state_entry` does."""
        sql = (
            "SELECT s.key, s.value, s.block, s.txnum, h.value, h.is_delete FROM state s "
            "LEFT JOIN history h ON h.key = s.key AND h.block = s.block AND h.txnum = s.txnum "
            "WHERE s.key >= ?"
        )
        params: list[object] = [start.encode()]
        if end:
            sql += " AND s.key <= ?" if end_inclusive else " AND s.key < ?"
            params.append(end.encode())
        sql += " ORDER BY s.key LIMIT ?"
        params.append(limit)
        out = []
        for k, v, b, t, written, is_delete in self._reader.execute(sql, params).fetchall():
            key = k.decode()
            _check_state_row(key, v, b, t, written, is_delete)
            out.append((key, v, (b, t)))
        return out

    def tx_ids(self) -> Iterator[str]:
        for (tx_id,) in self._reader.execute("SELECT tx_id FROM txindex"):
            yield tx_id

    def tx_status(self, tx_id: str) -> tuple[int, int] | None:
        """(block number, validation code) of a committed transaction, or None."""
        row = self._reader.execute(
            "SELECT block, code FROM txindex WHERE tx_id = ?", (tx_id,)
        ).fetchone()
        return None if row is None else (row[0], row[1])

    def history(self, key: str) -> list[dict]:
        """Committed history of `key` by valid transactions, newest first."""
        rows = self._reader.execute(
            "SELECT tx_id, timestamp, value, is_delete FROM history WHERE key = ? "
            "ORDER BY block DESC, txnum DESC",
            (key.encode(),),
        ).fetchall()
        return [
            {"tx_id": t, "timestamp": ts, "value": v or b"", "is_delete": bool(d)}
            for t, ts, v, d in rows
        ]

    _BLOCK_COLUMNS = "number, hash, previous_hash, data_hash, block"

    def read_block(self, number: int) -> common_pb2.Block | None:
        """Block `number`, its bytes checked against its recorded header and data hashes
        (LedgerIntegrityError when they do not match), or None past the head."""
        row = self._reader.execute(
            f"SELECT {self._BLOCK_COLUMNS} FROM blocks WHERE number = ?", (number,)
        ).fetchone()
        return None if row is None else checked_block(*row)

    block = read_block

    def iter_blocks(self, start: int, stop: int | None = None) -> Iterator[common_pb2.Block]:
        """Blocks start, start+1, ... up to stop (exclusive; None: the current head), each
        checked as `read_block` does; read in pages, so a slow consumer holds no snapshot."""
        number = start
        while stop is None or number < stop:
            limit = 64 if stop is None else min(64, stop - number)
            rows = self._reader.execute(
                f"SELECT {self._BLOCK_COLUMNS} FROM blocks WHERE number >= ? "
                "ORDER BY number LIMIT ?",
                (number, limit),
            ).fetchall()
            if not rows:
                return
            for row in rows:
                yield checked_block(*row)
            number = rows[-1][0] + 1

    def block_of_tx(self, tx_id: str) -> tuple[common_pb2.Block, int, int] | None:
        """(block, txnum, validation code) of a committed transaction, or None."""
        row = self._reader.execute(
            f"SELECT {', '.join('b.' + c for c in self._BLOCK_COLUMNS.split(', '))}, "
            "t.txnum, t.code FROM txindex t JOIN blocks b ON b.number = t.block "
            "WHERE t.tx_id = ?",
            (tx_id,),
        ).fetchone()
        return None if row is None else (checked_block(*row[:5]), row[5], row[6])

    def block_by_hash(self, block_hash: bytes) -> common_pb2.Block | None:
        row = self._reader.execute(
            f"SELECT {self._BLOCK_COLUMNS} FROM blocks WHERE hash = ?", (block_hash,)
        ).fetchone()
        return None if row is None else checked_block(*row)

    def events(self, first_block: int, last_block: int, chaincode: str) -> list[StoredEvent]:
        """Events of valid transactions of `chaincode` in blocks [first_block, last_block]."""
        rows = self._reader.execute(
            "SELECT block, txnum, tx_id, chaincode, name, payload FROM events "
            "WHERE block >= ? AND block <= ? AND chaincode = ? ORDER BY block, txnum",
            (first_block, last_block, chaincode),
        ).fetchall()
        return [StoredEvent(*row) for row in rows]

    def read_checkpoint(self) -> commitment.Checkpoint | None:
        row = self._reader.execute(
            "SELECT height, block_hash, commit_hash, metadata, seal FROM checkpoint"
        ).fetchone()
        return None if row is None else commitment.Checkpoint(*row)

    def write_checkpoint(self, checkpoint: commitment.Checkpoint) -> None:
        """Record how far the ledger has been verified (devnet's start, after the check)."""
        cp = checkpoint.sealed()
        self._writer.execute(
            "INSERT OR REPLACE INTO checkpoint (id, height, block_hash, commit_hash, metadata, "
            "seal) VALUES (0, ?, ?, ?, ?, ?)",
            (cp.height, cp.block_hash, cp.commit, cp.metadata, cp.seal),
        )

    # -- the one write ---------------------------------------------------------------------------

    def commit_block(
        self,
        block: common_pb2.Block,
        block_hash: bytes,
        txs: Sequence[TxRecord],
        updates: dict[str, tuple[bytes | None, tuple[int, int]]],
        history: Sequence[tuple[str, int, bytes | None]],
    ) -> None:
        """Store a block, its state commitment and everything it changes in one durable SQLite
        transaction.

        `updates`: final value (None: deleted) and version per key; `history`: every valid
        write as (key, txnum, value or None). The block's metadata gets its commitment."""
        cur = self._writer.cursor()
        try:
            cur.execute("BEGIN IMMEDIATE")
            commit = write_block(cur, block, block_hash, txs, updates, history, self._last_commit)
            cur.execute("COMMIT")
        except BaseException:
            if self._writer.in_transaction:
                self._writer.execute("ROLLBACK")
            raise
        self._last_commit = commit

    # -- integrity -------------------------------------------------------------------------------

    def verify_chain(self, *, full: bool = True) -> int:
        """Check every block and every derived row against the chain; return the height.

        Raises LedgerIntegrityError naming the block (or world-state key) that does not verify.
        `full` is kept for callers of the former quick check: every check now covers the whole
        ledger (see network.devnet.integrity)."""
        from network.devnet.integrity import verify_ledger_store

        return verify_ledger_store(self).height


def _check_state_row(
    key: str, value: bytes, block: int, txnum: int, written: bytes | None, is_delete: int | None
) -> None:
    """A world-state row must equal the history's write at its version."""
    if is_delete is None or is_delete or written != value:
        raise LedgerIntegrityError(
            f"world state key {key!r} does not match its write in block {block} "
            f"(tx {txnum}); repair it with `alliance network repair --dir NET` (devnet stopped)"
        )


def _parse_block(raw: bytes, number: int) -> common_pb2.Block:
    try:
        return common_pb2.Block.FromString(raw)
    except Exception as exc:  # protobuf's DecodeError, and whatever a damaged blob raises
        raise LedgerIntegrityError(
            f"block {number}: its stored bytes do not parse as a block ({exc})"
        ) from exc


def checked_block(
    number: int, block_hash: bytes, previous_hash: bytes, data_hash: bytes, raw: bytes
) -> common_pb2.Block:
    """Parse a stored block and check its bytes against its row: header fields, header hash,
    data hash, one validation code per transaction. Cheap (one sha256 over the block)."""
    block = _parse_block(raw, number)
    header = block.header
    where = f"block {number}"
    if (header.number, header.previous_hash, header.data_hash) != (
        number,
        previous_hash,
        data_hash,
    ):
        raise LedgerIntegrityError(f"{where}: stored header fields disagree with the block")
    if block_header_hash(header) != block_hash:
        raise LedgerIntegrityError(f"{where}: header hash does not match")
    if block_data_hash(block.data.data) != data_hash:
        raise LedgerIntegrityError(f"{where}: data hash does not match its transactions")
    if len(block_tx_filter(block)) != len(block.data.data):
        raise LedgerIntegrityError(f"{where}: one validation code per transaction expected")
    return block


@dataclass(frozen=True)
class DerivedRows:
    """The rows a block adds to the tx index, key history and events, and its commitment."""

    index: list[commitment.IndexRow]
    changes: list[commitment.ChangeRow]
    events: list[commitment.EventRow]
    commit: bytes


def derive_rows(
    block: common_pb2.Block,
    block_hash: bytes,
    txs: Sequence[TxRecord],
    history: Sequence[tuple[str, int, bytes | None]],
    previous_commit: bytes,
    indexed: Callable[[list[str]], set[str]],
) -> DerivedRows:
    """What a block adds besides itself (pure but for `indexed`: which of these tx ids the
    index already holds — a repeated id keeps its first entry, as Fabric's index does)."""
    existing = indexed([t.tx_id for t in txs if t.tx_id])
    index: list[commitment.IndexRow] = []
    for t in txs:
        if t.tx_id and t.tx_id not in existing:
            existing.add(t.tx_id)
            index.append((t.txnum, t.tx_id, t.code))
    by_num = {t.txnum: t for t in txs}
    changes: list[commitment.ChangeRow] = sorted(
        (txnum, key.encode(), by_num[txnum].tx_id, by_num[txnum].timestamp, value)
        for key, txnum, value in history
    )
    events: list[commitment.EventRow] = [
        (t.txnum, t.tx_id, *t.event) for t in txs if t.event is not None
    ]
    commit = commitment.chain(
        previous_commit,
        block_hash,
        block_tx_filter(block),
        commitment.index_digest(index),
        commitment.changes_digest(changes),
        commitment.events_digest(events),
    )
    return DerivedRows(index, changes, events, commit)


def indexed_ids(cur: sqlite3.Cursor | sqlite3.Connection, ids: list[str]) -> set[str]:
    """Which of `ids` the tx index holds."""
    found: set[str] = set()
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        found.update(
            r[0]
            for r in cur.execute(
                f"SELECT tx_id FROM txindex WHERE tx_id IN ({','.join('?' * len(chunk))})", chunk
            )
        )
    return found


def write_block(
    cur: sqlite3.Cursor,
    block: common_pb2.Block,
    block_hash: bytes,
    txs: Sequence[TxRecord],
    updates: dict[str, tuple[bytes | None, Version]],
    history: Sequence[tuple[str, int, bytes | None]],
    previous_commit: bytes,
    *,
    insert_block: bool = True,
) -> bytes:
    """Write a block's rows inside the caller's transaction; return its state commitment.

    The commitment is computed from exactly the rows inserted and recorded in the block's
    metadata. With `insert_block=False` (repair) the stored block row gets the new metadata."""
    number = block.header.number
    rows = derive_rows(
        block, block_hash, txs, history, previous_commit, lambda ids: indexed_ids(cur, ids)
    )
    commitment.record_commit(block, rows.commit)
    raw = block.SerializeToString()
    if insert_block:
        cur.execute(
            "INSERT INTO blocks (number, hash, previous_hash, data_hash, block) "
            "VALUES (?, ?, ?, ?, ?)",
            (number, block_hash, block.header.previous_hash, block.header.data_hash, raw),
        )
    else:
        cur.execute("UPDATE blocks SET block = ? WHERE number = ?", (raw, number))
    cur.executemany(
        "INSERT INTO txindex (tx_id, block, txnum, code) VALUES (?, ?, ?, ?)",
        [(tx_id, number, txnum, code) for txnum, tx_id, code in rows.index],
    )
    puts = [(k.encode(), v, ver[0], ver[1]) for k, (v, ver) in updates.items() if v is not None]
    dels = [(k.encode(),) for k, (v, _) in updates.items() if v is None]
    if puts:
        cur.executemany(
            "INSERT OR REPLACE INTO state (key, value, block, txnum) VALUES (?, ?, ?, ?)", puts
        )
    if dels:
        cur.executemany("DELETE FROM state WHERE key = ?", dels)
    cur.executemany(
        "INSERT INTO history (key, block, txnum, tx_id, timestamp, value, is_delete) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            (key, number, txnum, tx_id, ts, value, int(value is None))
            for txnum, key, tx_id, ts, value in rows.changes
        ],
    )
    cur.executemany(
        "INSERT INTO events (block, txnum, tx_id, chaincode, name, payload) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [(number, *e) for e in rows.events],
    )
    return rows.commit
