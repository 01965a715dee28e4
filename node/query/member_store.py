"""A member's own side of the query service, kept in its node folder
(NET/orgs/<org>/node/query-member/): its loan events (its own data: never sent anywhere in the
clear), the records of each contribution version it sent (to exclude its own record from its
lookups), and the record of each lookup it made (the consent nonces an audit opens).

Events and lookup records are JSON lines appended and fsynced; a sent version is one file of
fixed-width rows sorted by hashed applicant (a lookup reads one row by binary search), written to
a temporary name, fsynced and renamed. The newest KEEP_SENT versions are kept, and the last one
both servers took.
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import json
import logging
import mmap
import os
import struct
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from node.query import book_file
from node.query.consent import LookupRecord
from node.query.contribution import EventKind, LoanBook, LoanEvent, Records
from node.query.errors import QueryError
from node.query.layout import KEY_BYTES, Layout
from node.query.record import FIELDS, Aggregates

log = logging.getLogger(__name__)

KEEP_SENT = 4
_SENT_HEADER = ("alliance sent records v1: key32 " + " ".join(FIELDS) + " u64le\n").encode()
_SENT_FIELDS = struct.Struct("<" + "Q" * len(FIELDS))
_SENT_ROW = KEY_BYTES + _SENT_FIELDS.size
_SENT_DTYPE = np.dtype([("key", f"S{KEY_BYTES}")] + [(name, "<u8") for name in FIELDS])
assert _SENT_DTYPE.itemsize == _SENT_ROW


@contextlib.contextmanager
def _bulk_objects() -> Iterator[None]:
    """Millions of objects made at once, none in a reference cycle: the cycle collector would
    scan every live object again and again meanwhile (2^20 events: 1.46 s of making them, 0.63
    s without it). Reference counting still frees; the collector is on again after."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


_KINDS = {kind.value: kind for kind in EventKind}


def _event(row: dict[str, Any]) -> LoanEvent:
    """An event as `add_events` stored it; ValueError, KeyError or TypeError if it is not."""
    kind = _KINDS.get(row["kind"])
    if kind is None:
        raise ValueError(f"{row['kind']!r} is not an event kind ({', '.join(_KINDS)})")
    return LoanEvent(kind, row["applicant_id"], row["day"], row["loan_id"], row["amount_cents"])


def _sent_rows(records: Records) -> bytes:
    """Fixed-width rows (key, then each field as little-endian uint64) in key order."""
    keys = np.frombuffer(b"".join(records.applicants), dtype=f"S{KEY_BYTES}")
    order = np.argsort(keys)  # bytewise, as `_find` compares
    rows = np.empty(len(keys), dtype=_SENT_DTYPE)
    rows["key"] = keys[order]
    for name in FIELDS:
        rows[name] = records.fields[name][order]
    return rows.tobytes()


def _find(data: mmap.mmap, start: int, key: bytes) -> int | None:
    """The offset of `key`'s row in the sorted rows from `start`, or None."""
    low, high = 0, (len(data) - start) // _SENT_ROW
    while low < high:
        middle = (low + high) // 2
        at = start + middle * _SENT_ROW
        if data[at:at + KEY_BYTES] < key:
            low = middle + 1
        else:
            high = middle
    at = start + low * _SENT_ROW
    return at if at + _SENT_ROW <= len(data) and data[at:at + KEY_BYTES] == key else None


def _append(path: Path, lines: list[str]) -> None:
    with open(path, "a", encoding="utf-8") as out:
        out.write("".join(line + "\n" for line in lines))
        out.flush()
        os.fsync(out.fileno())


class MemberStore:
    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        (self.folder / "sent").mkdir(parents=True, exist_ok=True)
        self.events_file = self.folder / "events.jsonl"
        self.records_file = self.folder / "lookups.jsonl"
        self.book_file = self.folder / "book.npz"

    # ---- events --------------------------------------------------------------------------------

    def add_events(self, events: list[LoanEvent]) -> None:
        _append(self.events_file, [json.dumps(
            {"kind": e.kind.value, "applicant_id": e.applicant_id, "day": e.day,
             "loan_id": e.loan_id, "amount_cents": e.amount_cents}, sort_keys=True)
            for e in events])

    def events(self) -> list[LoanEvent]:
        """Every event stored, in order; QueryError naming the first line that is not one."""
        return self._events_from(0, 1)

    def _events_from(self, offset: int, first: int) -> list[LoanEvent]:
        """The events stored from byte `offset` (a line's start; `first`: that line's event
        number, for the error naming a line that is not one)."""
        if not self.events_file.exists():
            return []
        with open(self.events_file, "rb") as handle:
            handle.seek(offset)
            data = handle.read()
        lines = [line for line in data.decode("utf-8").splitlines() if line.strip()]
        try:  # one parse of them all: a call per line costs more than the parsing
            with _bulk_objects():
                rows = json.loads("[" + ",".join(lines) + "]")
                if len(rows) != len(lines):
                    raise ValueError("a line holds more or less than one event")
                return [_event(row) for row in rows]
        except (ValueError, KeyError, TypeError):
            for number, line in enumerate(lines, first):
                try:
                    _event(json.loads(line))
                except (ValueError, KeyError, TypeError) as exc:
                    raise QueryError(
                        f"{self.events_file}: stored event {number} is not an event ({exc}); "
                        "restore the file from a backup, or remove that line and push the "
                        "events again (`alliance query events`)") from None
            raise

    # ---- the book kept between pushes ----------------------------------------------------------

    def book(self, salt: bytes, layout: Layout, member: str, day: int,
             step: Callable[[str], None] = lambda _: None) -> LoanBook:
        """`member`'s book of every stored event, fit for `day`'s windows: the kept one
        (book_file.py) and the events stored since, else built from every event (`step` is
        told which)."""
        kept = book_file.load(self.book_file, member=member, salt=salt,
                              events_file=self.events_file)
        if kept is not None and (kept.state.pruned_at is None or day >= kept.state.pruned_at):
            step("reading the kept loan book and the events stored since")
            book = LoanBook.restored(salt, layout, member, kept.state)
            events = self._events_from(kept.offset, kept.state.events + 1)
        else:
            step("building the loan book from every stored event (none kept to start from)")
            book = LoanBook(salt, layout, member)
            events = self.events()
        book.ingest_many(events)
        return book

    def keep_book(self, book: LoanBook) -> None:
        """Keep `book` for the next push: it must hold exactly the events stored now. A book
        that could not be written (a full disk) only costs the next push time: it reads what
        the kept book before it does not hold."""
        size = self.events_file.stat().st_size if self.events_file.exists() else 0
        try:
            book_file.save(self.book_file, book.state(), member=book.member, salt=book.salt,
                           events_file=self.events_file, offset=size)
        except OSError as exc:
            log.warning("could not keep the loan book in %s (%s); the next push reads the "
                        "events it does not hold", self.book_file, exc)

    # ---- contributions -------------------------------------------------------------------------

    def next_version(self) -> int:
        return max(self.versions(), default=0) + 1

    def versions(self) -> list[int]:
        """The sent versions kept (`.sent` files; `.json` ones written before 2026-12-05)."""
        return sorted({int(p.stem) for p in (self.folder / "sent").iterdir()
                       if p.suffix in (".sent", ".json") and p.stem.isdigit()})

    def save_sent(self, version: int, records: Records) -> None:
        """The records of a version as sent, sorted by hashed applicant (`sent_record` finds
        one by binary search without reading the rest: a lookup's own exclusion)."""
        final = self.folder / "sent" / f"{version}.sent"
        tmp = final.with_suffix(".tmp")
        with open(tmp, "wb") as out:
            out.write(_SENT_HEADER)
            out.write(_sent_rows(records))
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, final)
        pushed = self.pushed_version()
        for old in self.versions()[:-KEEP_SENT]:
            if old == pushed:  # both servers' table may still be built from it
                continue
            for suffix in (".sent", ".json"):
                (self.folder / "sent" / f"{old}{suffix}").unlink(missing_ok=True)

    def save_pushed(self, version: int, day: int, layout: str = "") -> None:
        """Which version both servers took last, the UTC day its windows were cut at and the
        table layout it was built for."""
        final = self.folder / "pushed.json"
        tmp = final.with_suffix(".tmp")
        with open(tmp, "w", encoding="utf-8") as out:
            json.dump({"version": version, "day": day, "layout": layout}, out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, final)

    def _pushed(self) -> dict[str, Any] | None:
        """What `save_pushed` wrote last; None if both servers never took a contribution."""
        path = self.folder / "pushed.json"
        if not path.exists():
            return None
        pushed: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return pushed

    def pushed_version(self) -> int | None:
        """The last contribution version both servers took; None if none was."""
        pushed = self._pushed()
        return None if pushed is None else int(pushed["version"])

    def pushed_day(self) -> int | None:
        """The UTC day of the last contribution both servers took; None if none was."""
        pushed = self._pushed()
        return None if pushed is None else int(pushed["day"])

    def pushed_layout(self) -> str | None:
        """The table layout of the last contribution both servers took; None if none was."""
        pushed = self._pushed()
        return None if pushed is None else str(pushed.get("layout", ""))

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Exclusive use of this store across processes (the CLI and the node both push)."""
        with open(self.folder / ".lock", "a+b") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def sent_record(self, version: int, hashed: bytes) -> Aggregates | None:
        """The record of `hashed` this member sent in `version` (None: it sent none); KeyError
        when the version is not kept."""
        path = self.folder / "sent" / f"{version}.sent"
        if not path.exists():
            return self._legacy_sent(version, hashed)
        with open(path, "rb") as handle:
            if handle.read(len(_SENT_HEADER)) != _SENT_HEADER:
                raise QueryError(f"{path} is not a sent-records file of this version; send the "
                                 "events again (`alliance query events`)")
            with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
                at = _find(data, len(_SENT_HEADER), hashed)
                if at is None:
                    return None
                values = _SENT_FIELDS.unpack_from(data, at + KEY_BYTES)
                return Aggregates(**dict(zip(FIELDS, values, strict=True)))

    def _legacy_sent(self, version: int, hashed: bytes) -> Aggregates | None:
        path = self.folder / "sent" / f"{version}.json"
        if not path.exists():
            raise KeyError(version)
        values = json.loads(path.read_text(encoding="utf-8")).get(hashed.hex())
        return None if values is None else Aggregates(**{n: values[n] for n in FIELDS})

    # ---- lookups -------------------------------------------------------------------------------

    def add_record(self, record: LookupRecord) -> None:
        _append(self.records_file, [record.to_json()])

    def records(self) -> list[LookupRecord]:
        """Every lookup kept: the answered ones, and those written before sending that never
        got their answer (a server or the connection failed after it may have logged them)."""
        if not self.records_file.exists():
            return []
        kept = [LookupRecord.from_json(line) for line in
                self.records_file.read_text(encoding="utf-8").splitlines() if line.strip()]
        answered = {part.commitment for r in kept if r.answered for part in r.parts}
        latest = {r.parts[0].commitment: r for r in kept if r.parts and not r.answered}
        return [r for r in kept if r.answered or (
            r.parts and latest[r.parts[0].commitment] is r  # its failure, once written
            and not answered.intersection(p.commitment for p in r.parts))]
