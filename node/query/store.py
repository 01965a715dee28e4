"""A query server's durable state: members' contributions and the query log.

SQLite (WAL) holds the contribution index and server B's share seeds (synchronous=FULL: each
commit is on disk), and the query log (its own connection, synchronous=NORMAL: it survives a
crash of the process; a power cut may lose the last few entries; its WAL is checkpointed by a
thread of the store, never by a lookup's commit). Server A's masked vectors are
files written to a temporary name, fsynced, renamed and the directory fsynced before the index
row commits. A contribution is acknowledged only after that, so a server restart loses no
acknowledged update. The last KEEP_VERSIONS versions of each member are kept (an epoch may still
name the previous one), and any version a table held was formed from.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from node.query.authorize import LogEntry
from node.query.errors import ContributionError, QueryError, QueryRefused
from node.query.record import LANES, RECORD_BYTES

KEEP_VERSIONS = 3
CHECKPOINT_SECONDS = 2.0

log = logging.getLogger("node.query.store")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS contributions (
    member TEXT NOT NULL, version INTEGER NOT NULL, seed BLOB, file TEXT, received REAL NOT NULL,
    PRIMARY KEY (member, version));
CREATE TABLE IF NOT EXISTS queries (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, day INTEGER NOT NULL,
    asker TEXT NOT NULL, purpose TEXT NOT NULL, consent TEXT NOT NULL, nonce TEXT NOT NULL UNIQUE,
    request TEXT NOT NULL, job TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS queries_day ON queries (asker, day);
CREATE TABLE IF NOT EXISTS query_jobs (job TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class LogRow(NamedTuple):
    """One query as logged (the columns of `queries` but its sequence number)."""

    at: int
    day: int
    asker: str
    purpose: str
    consent: str
    nonce: str
    request: str
    job: str = ""
    """The service job the query was admitted under (the authorizer's answer; "" for none)."""


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class ServerStore:
    """One server's folder: `state.sqlite` and `contrib/` (server A's masked vectors)."""

    def __init__(self, folder: Path, slots: int, layout: str = "") -> None:
        """`slots`: the slots of one contribution (a member's segment of the table).
        `layout`: the fingerprint of the table layout served (layout.py); contributions
        stored under another one are dropped (their slots mean something else now)."""
        self.folder = Path(folder)
        self.slots = slots
        (self.folder / "contrib").mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.folder / "state.sqlite", check_same_thread=False,
                                   isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        self._add_job_column()
        self._adopt_layout(layout)
        self._sweep()
        self._log = sqlite3.connect(self.folder / "state.sqlite", check_same_thread=False,
                                    isolation_level=None)
        self._log.execute("PRAGMA synchronous=NORMAL")
        # the log's commits never checkpoint (a checkpoint syncs the files: milliseconds to tens
        # of them on a busy disk, under the lock every lookup takes); a thread of its own does
        self._log.execute("PRAGMA wal_autocheckpoint=0")
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._checkpointer = threading.Thread(target=self._checkpoint_loop,
                                              name="query-log-checkpoint", daemon=True)
        self._checkpointer.start()
        self.served: Callable[[str], set[int]] = lambda member: set()
        """A member's versions in the tables the server holds (set by the server): kept
        beyond the newest KEEP_VERSIONS, so newer versions the other server never took (its
        refusals) cannot push out the one both still form epochs from."""
        self._used: dict[tuple[str, int], int] = {}
        """Logged queries per (asker, day), counted from the log once, then kept up to date."""

    def _add_job_column(self) -> None:
        """A log of an earlier version has no `job` column: its queries get "" (attributed to
        the job in force by `assign_unattributed` at the service's start) and an index by job
        and time, which summaries and proofs read by."""
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(queries)")}
        if "job" not in columns:
            self._db.execute("ALTER TABLE queries ADD COLUMN job TEXT NOT NULL DEFAULT ''")
        self._db.execute("CREATE INDEX IF NOT EXISTS queries_job_at ON queries (job, at)")

    def assign_unattributed(self, job: str) -> int:
        """Queries logged without a job (by a version before jobs were logged) are attributed
        to `job`, the one in force, which metered them then; how many."""
        with self._lock:
            cursor = self._log.execute("UPDATE queries SET job = ? WHERE job = ''", (job,))
            if cursor.rowcount:
                self._log.execute("INSERT OR IGNORE INTO query_jobs (job) VALUES (?)", (job,))
        return int(cursor.rowcount)

    def _adopt_layout(self, layout: str) -> bool:
        """Record the layout served; drop the contributions of another one. Whether any were."""
        row = self._db.execute("SELECT value FROM meta WHERE key = 'layout'").fetchone()
        dropped = False
        if row is not None and row[0] != layout:
            count = self._db.execute("SELECT COUNT(*) FROM contributions").fetchone()[0]
            log.warning("the table layout changed (%s -> %s): dropping %d stored contributions; "
                        "members push their books again", row[0], layout, count)
            self._db.execute("DELETE FROM contributions")
            dropped = True
        self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('layout', ?)",
                         (layout,))
        return dropped

    def adopt_layout(self, slots: int, layout: str) -> None:
        """Serve another layout from now on (the service job changed its size or contributors):
        the stored contributions are dropped, files included."""
        with self._lock:
            self.slots = slots
            if self._adopt_layout(layout):
                self._sweep()

    def _sweep(self) -> None:
        """Remove what an upload cut short by a crash left: partial files, and a file written
        but never indexed (the member's upload was not acknowledged: it sends it again)."""
        kept = {row[0] for row in self._db.execute(
            "SELECT file FROM contributions WHERE file IS NOT NULL")}
        for path in (self.folder / "contrib").iterdir():
            if path.name not in kept:
                log.info("removing %s, an upload a crash cut short", path.name)
                path.unlink(missing_ok=True)

    def _checkpoint_loop(self) -> None:
        """Copy the WAL's committed pages into the database every CHECKPOINT_SECONDS, beside
        the writers (PASSIVE: it waits for nobody), so the WAL stays small."""
        db = sqlite3.connect(self.folder / "state.sqlite", check_same_thread=False,
                             isolation_level=None)
        try:
            while not self._closing.wait(CHECKPOINT_SECONDS):
                try:
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)")
                except sqlite3.Error as exc:  # busy or I/O trouble: the next round retries
                    log.warning("query log checkpoint failed: %s", exc)
        finally:
            db.close()

    def close(self) -> None:
        self._closing.set()
        self._checkpointer.join()
        with self._lock:
            self._db.close()
            self._log.close()

    # ---- contributions -----------------------------------------------------------------------

    def save_masked(self, member: str, version: int, vector: np.ndarray) -> None:
        """Server A: store C XOR S for (member, version) durably."""
        if vector.shape != (self.slots, LANES) or vector.dtype != np.uint64:
            raise ContributionError(f"a masked segment must be {self.slots} x {LANES} uint64")
        self.save_masked_chunks(member, version,
                                [memoryview(np.ascontiguousarray(vector)).cast("B")])

    def save_masked_chunks(self, member: str, version: int,
                           chunks: Iterable[bytes | memoryview]) -> None:
        """Server A: store C XOR S for (member, version) durably, written as it arrives (a
        segment is tens of MiB: never held whole in memory). Its file name is new for
        every upload, so a refused or replayed version never overwrites a stored one."""
        expected = self.slots * RECORD_BYTES
        name = f"{member}-{version}-{os.urandom(4).hex()}.bin"
        final = self.folder / "contrib" / name
        tmp = final.with_suffix(".tmp")
        try:
            written = 0
            with open(tmp, "wb") as out:
                for chunk in chunks:
                    written += len(chunk)
                    if written > expected:
                        raise ContributionError(
                            f"a masked segment is {expected} bytes; more was sent")
                    out.write(chunk)
                if written != expected:
                    raise ContributionError(
                        f"a masked segment is {expected} bytes, got {written}")
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, final)
            _fsync_dir(final.parent)
            self._index(member, version, None, name)
        except BaseException:
            tmp.unlink(missing_ok=True)
            final.unlink(missing_ok=True)
            raise

    def save_seed(self, member: str, version: int, seed: bytes) -> None:
        """Server B: store the seed of S for (member, version) durably."""
        if len(seed) != 16:
            raise ContributionError("a share seed must be 16 bytes")
        self._index(member, version, seed, None)

    def _index(self, member: str, version: int, seed: bytes | None, name: str | None) -> None:
        served = self.served(member)  # before the store's lock: it takes the tables' lock
        with self._lock:
            latest = self._db.execute(
                "SELECT MAX(version) FROM contributions WHERE member = ?", (member,)
            ).fetchone()[0]
            if latest is not None and version <= latest:
                raise ContributionError(
                    f"{member} already sent version {latest}; versions must increase")
            self._db.execute("INSERT INTO contributions VALUES (?, ?, ?, ?, ?)",
                             (member, version, seed, name, time.time()))
            old = self._db.execute(
                "SELECT version, file FROM contributions WHERE member = ? ORDER BY version DESC "
                "LIMIT -1 OFFSET ?", (member, KEEP_VERSIONS)).fetchall()
            for old_version, old_file in old:
                if old_version in served:  # the table lookups are answered from holds it
                    continue
                self._db.execute("DELETE FROM contributions WHERE member = ? AND version = ?",
                                 (member, old_version))
                if old_file:
                    (self.folder / "contrib" / old_file).unlink(missing_ok=True)

    def versions(self) -> dict[str, list[int]]:
        with self._lock:
            rows = self._db.execute("SELECT member, version FROM contributions").fetchall()
        out: dict[str, list[int]] = {}
        for member, version in rows:
            out.setdefault(member, []).append(version)
        return {m: sorted(v) for m, v in out.items()}

    def load(self, member: str, version: int, start: int = 0, rows: int | None = None
             ) -> tuple[bytes | None, np.ndarray | None]:
        """(seed, masked vector) of a stored contribution, the vector's `rows` slots from slot
        `start` (default: all); KeyError if absent."""
        with self._lock:
            row = self._db.execute(
                "SELECT seed, file FROM contributions WHERE member = ? AND version = ?",
                (member, version)).fetchone()
        if row is None:
            raise KeyError((member, version))
        seed, name = row
        if name is None:
            return seed, None
        count = self.slots - start if rows is None else rows
        vector = np.fromfile(self.folder / "contrib" / name, dtype=np.uint64,
                             count=count * LANES, offset=start * RECORD_BYTES)
        return None, vector.reshape(count, LANES)

    # ---- query log ----------------------------------------------------------------------------

    def used(self, asker: str, day: int) -> int:
        with self._lock:
            return self._count(asker, day)

    def _count(self, asker: str, day: int) -> int:
        key = (asker, day)
        if key not in self._used:
            if len(self._used) > 4096:
                self._used.clear()
            self._used[key] = int(self._log.execute(
                "SELECT COUNT(*) FROM queries WHERE asker = ? AND day = ?", key).fetchone()[0])
        return self._used[key]

    def log_query(self, at: int, day: int, asker: str, purpose: str, consent: str, nonce: str,
                  request: str, job: str = "") -> int:
        """Log a query durably before it is answered; a repeated nonce is a replay."""
        (seq,) = self.log_queries([LogRow(at, day, asker, purpose, consent, nonce, request,
                                          job)])
        if isinstance(seq, QueryError):
            raise seq
        return seq

    def log_queries(self, rows: Sequence[LogRow],
                    admit: Callable[[int, int], str | None] = lambda index, used: None
                    ) -> list[int | QueryError]:
        """Log a batch of queries in one commit, before any is answered: per row its log
        sequence number, or why it was refused alone: `admit(index, used today)` raising a
        QueryError (the authorizer, its quota counting the rows logged before it; a malformed
        request), or a repeated nonce (a replay). `admit` returns the job the row is admitted
        under (None: the row's own). Any other error logs none of the batch."""
        out: list[int | QueryError] = []
        with self._lock:
            # the write lock at once: a deferred transaction that read the day's count first
            # could not upgrade after the contributions' connection wrote (SQLITE_BUSY_SNAPSHOT,
            # which waits for nobody); IMMEDIATE waits for that writer like any other
            self._log.execute("BEGIN IMMEDIATE")
            try:
                jobs = set()
                for index, row in enumerate(rows):
                    count = self._count(row.asker, row.day)
                    try:
                        job = admit(index, count)
                        if job is not None:
                            row = row._replace(job=job)
                        cursor = self._log.execute(
                            "INSERT INTO queries (at, day, asker, purpose, consent, nonce, "
                            "request, job) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", row)
                        jobs.add(row.job)
                    except QueryError as exc:
                        out.append(exc)
                        continue
                    except sqlite3.IntegrityError:
                        out.append(QueryRefused("replay", "this signed query was already "
                                                "answered; sign a new one (a fresh nonce)"))
                        continue
                    self._used[(row.asker, row.day)] = count + 1
                    out.append(int(cursor.lastrowid or 0))
                self._log.executemany("INSERT OR IGNORE INTO query_jobs (job) VALUES (?)",
                                      [(job,) for job in jobs if job])
                self._log.execute("COMMIT")
            except BaseException:
                self._log.execute("ROLLBACK")
                self._used.clear()  # counted from the log again
                raise
        return out

    def log_entry(self, seq: int) -> tuple[LogEntry, str] | None:
        """Query `seq` as logged, and the job it was admitted under."""
        with self._lock:
            row = self._log.execute(
                "SELECT seq, at, asker, purpose, consent, request, job FROM queries "
                "WHERE seq = ?", (seq,)).fetchone()
        return (LogEntry(*row[:6]), row[6]) if row else None

    def log_jobs(self) -> list[str]:
        """Every job queries were logged under (oldest first)."""
        with self._lock:
            return [row[0] for row in self._log.execute(
                "SELECT job FROM query_jobs ORDER BY rowid")]

    def last_logged(self, job: str) -> int | None:
        """The time of the job's last logged query."""
        with self._lock:
            row = self._log.execute("SELECT MAX(at) FROM queries WHERE job = ?",
                                    (job,)).fetchone()
        return None if row[0] is None else int(row[0])

    def log_entries(self, start: int, end: int, job: str | None = None) -> list[LogEntry]:
        """The queries logged in start <= at < end: under `job`, or under any (None)."""
        where, args = ("at >= ? AND at < ?", (start, end)) if job is None else (
            "job = ? AND at >= ? AND at < ?", (job, start, end))
        with self._lock:
            rows = self._log.execute(
                "SELECT seq, at, asker, purpose, consent, request FROM queries "
                f"WHERE {where} ORDER BY seq", args).fetchall()
        return [LogEntry(*row) for row in rows]
