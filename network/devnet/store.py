"""Devnet's durable ledger in SQLite: blocks, world state, key history, tx index, events.

One SQLite transaction per block (WAL, synchronous=FULL): a block, its state updates, history,
index and events are on disk together or not at all, so a SIGKILL at any moment leaves a
consistent ledger, and anything reported committed survives. The writer connection belongs to
the commit thread; readers use their own connection.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from fabric_protos.common import common_pb2

from network.errors import DevnetError, LedgerIntegrityError
from network.protoutil import (
    TxValidationCode,
    block_data_hash,
    block_header_hash,
    block_tx_filter,
    unpack_transaction,
    validation_code_name,
)

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
"""


UNINDEXED = frozenset(
    {
        TxValidationCode.DUPLICATE_TXID,
        TxValidationCode.BAD_COMMON_HEADER,
        TxValidationCode.BAD_PROPOSAL_TXID,
        TxValidationCode.INVALID_ENDORSER_TRANSACTION,
    }
)
"""Validation codes whose transaction the tx index may not name by this block's entry: a
replayed tx id keeps its first entry; the others may not unpack as an endorser transaction."""


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
    try:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL" if writer else "PRAGMA query_only=ON")
    except sqlite3.Error as exc:
        raise DevnetError(f"cannot open the ledger database {path}: {exc}") from exc
    return conn


class LedgerStore:
    """The SQLite file under NET/devnet/ledger.sqlite."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = _connect(self.path, writer=True)
        self._writer.executescript(SCHEMA)
        self._reader = _connect(self.path, writer=False)

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

    def state_rows(self) -> Iterator[tuple[str, bytes, int, int]]:
        for key, value, block, txnum in self._reader.execute(
            "SELECT key, value, block, txnum FROM state"
        ):
            yield key.decode(), value, block, txnum

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

    def block(self, number: int) -> common_pb2.Block | None:
        row = self._reader.execute(
            "SELECT block FROM blocks WHERE number = ?", (number,)
        ).fetchone()
        return None if row is None else common_pb2.Block.FromString(row[0])

    def block_of_tx(self, tx_id: str) -> tuple[common_pb2.Block, int, int] | None:
        """(block, txnum, validation code) of a committed transaction, or None."""
        row = self._reader.execute(
            "SELECT b.block, t.txnum, t.code FROM txindex t JOIN blocks b ON b.number = t.block "
            "WHERE t.tx_id = ?",
            (tx_id,),
        ).fetchone()
        return None if row is None else (common_pb2.Block.FromString(row[0]), row[1], row[2])

    def block_by_hash(self, block_hash: bytes) -> common_pb2.Block | None:
        row = self._reader.execute(
            "SELECT block FROM blocks WHERE hash = ?", (block_hash,)
        ).fetchone()
        return None if row is None else common_pb2.Block.FromString(row[0])

    def events(self, first_block: int, last_block: int, chaincode: str) -> list[StoredEvent]:
        """Events of valid transactions of `chaincode` in blocks [first_block, last_block]."""
        rows = self._reader.execute(
            "SELECT block, txnum, tx_id, chaincode, name, payload FROM events "
            "WHERE block >= ? AND block <= ? AND chaincode = ? ORDER BY block, txnum",
            (first_block, last_block, chaincode),
        ).fetchall()
        return [StoredEvent(*row) for row in rows]

    # -- the one write ---------------------------------------------------------------------------

    def commit_block(
        self,
        block: common_pb2.Block,
        block_hash: bytes,
        txs: Sequence[TxRecord],
        updates: dict[str, tuple[bytes | None, tuple[int, int]]],
        history: Sequence[tuple[str, int, bytes | None]],
    ) -> None:
        """Store a block and everything it changes in one durable SQLite transaction.

        `updates`: final value (None: deleted) and version per key; `history`: every valid
        write as (key, txnum, value or None)."""
        number = block.header.number
        cur = self._writer.cursor()
        try:
            cur.execute("BEGIN IMMEDIATE")
            cur.execute(
                "INSERT INTO blocks (number, hash, previous_hash, data_hash, block) "
                "VALUES (?, ?, ?, ?, ?)",
                (
                    number,
                    block_hash,
                    block.header.previous_hash,
                    block.header.data_hash,
                    block.SerializeToString(),
                ),
            )
            cur.executemany(
                "INSERT OR IGNORE INTO txindex (tx_id, block, txnum, code) VALUES (?, ?, ?, ?)",
                [(t.tx_id, number, t.txnum, t.code) for t in txs if t.tx_id],
            )
            puts = [
                (k.encode(), v, ver[0], ver[1]) for k, (v, ver) in updates.items() if v is not None
            ]
            dels = [(k.encode(),) for k, (v, _) in updates.items() if v is None]
            if puts:
                cur.executemany(
                    "INSERT OR REPLACE INTO state (key, value, block, txnum) VALUES (?, ?, ?, ?)",
                    puts,
                )
            if dels:
                cur.executemany("DELETE FROM state WHERE key = ?", dels)
            by_num = {t.txnum: t for t in txs}
            cur.executemany(
                "INSERT INTO history (key, block, txnum, tx_id, timestamp, value, is_delete) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        key.encode(),
                        number,
                        txnum,
                        by_num[txnum].tx_id,
                        by_num[txnum].timestamp,
                        value,
                        int(value is None),
                    )
                    for key, txnum, value in history
                ],
            )
            cur.executemany(
                "INSERT INTO events (block, txnum, tx_id, chaincode, name, payload) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [(number, t.txnum, t.tx_id, *t.event) for t in txs if t.event is not None],
            )
            cur.execute("COMMIT")
        except BaseException:
            if self._writer.in_transaction:
                self._writer.execute("ROLLBACK")
            raise

    # -- integrity -------------------------------------------------------------------------------

    def verify_chain(self, *, full: bool = True) -> int:
        """Check the chain; return its height or raise LedgerIntegrityError.

        Always: block numbers are contiguous, every header hash recomputes and every block links
        to the one before. `full` also re-hashes every block's transactions, re-reads each
        block, and checks the tx index against each block's validation codes (startup does this
        for the newest block only, so a long ledger still starts in seconds)."""
        conn = _connect(self.path, writer=False)
        try:
            previous = b""
            expected = 0
            for number, stored_hash, prev, data_hash in conn.execute(
                "SELECT number, hash, previous_hash, data_hash FROM blocks ORDER BY number"
            ):
                if number != expected:
                    raise LedgerIntegrityError(f"block {expected} is missing (found {number})")
                if prev != previous:
                    raise LedgerIntegrityError(
                        f"block {number}: previous hash does not link to block {number - 1}"
                    )
                header = common_pb2.BlockHeader(
                    number=number, previous_hash=prev, data_hash=data_hash
                )
                if block_header_hash(header) != stored_hash:
                    raise LedgerIntegrityError(f"block {number}: header hash does not match")
                if full:
                    self._check_block(conn, number, prev, data_hash)
                previous = stored_hash
                expected += 1
            if expected and not full:
                n = expected - 1
                row = conn.execute(
                    "SELECT previous_hash, data_hash FROM blocks WHERE number = ?", (n,)
                ).fetchone()
                self._check_block(conn, n, row[0], row[1])
            return expected
        finally:
            conn.close()

    def _check_block(
        self, conn: sqlite3.Connection, number: int, prev: bytes, data_hash: bytes
    ) -> None:
        where = f"block {number}"
        (raw,) = conn.execute("SELECT block FROM blocks WHERE number = ?", (number,)).fetchone()
        block = common_pb2.Block.FromString(raw)
        header = block.header
        if (header.number, header.previous_hash, header.data_hash) != (number, prev, data_hash):
            raise LedgerIntegrityError(f"{where}: stored header fields disagree with the block")
        if block_data_hash(block.data.data) != header.data_hash:
            raise LedgerIntegrityError(f"{where}: data hash does not match its transactions")
        codes = block_tx_filter(block)
        if len(codes) != len(block.data.data):
            raise LedgerIntegrityError(f"{where}: one validation code per transaction expected")
        if number > 0:
            self._check_index(conn, number, block, codes)

    @staticmethod
    def _check_index(
        conn: sqlite3.Connection, number: int, block: common_pb2.Block, codes: bytes
    ) -> None:
        for txnum, raw in enumerate(block.data.data):
            if codes[txnum] in UNINDEXED:
                continue  # a replay (indexed as its first copy) or an unreadable header
            tx_id = unpack_transaction(common_pb2.Envelope.FromString(raw)).tx_id
            row = conn.execute(
                "SELECT block, txnum, code FROM txindex WHERE tx_id = ?", (tx_id,)
            ).fetchone()
            if row is None:
                raise LedgerIntegrityError(f"block {number}: transaction {tx_id} is not indexed")
            if row[0] == number and (row[1], row[2]) != (txnum, codes[txnum]):
                raise LedgerIntegrityError(
                    f"block {number}: index says {tx_id} is {validation_code_name(row[2])}, "
                    f"the block says {validation_code_name(codes[txnum])}"
                )
