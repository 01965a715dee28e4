"""A member's own side of the query service, kept in its node folder
(NET/orgs/<org>/node/query-member/): its loan events (its own data: never sent anywhere in the
clear), the records of each contribution version it sent (to exclude its own record from its
lookups), and the record of each lookup it made (the consent nonces an audit opens).

Events and lookup records are JSON lines appended and fsynced; a sent version is one file written
to a temporary name, fsynced and renamed. The newest KEEP_SENT versions are kept.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path

from node.query.consent import LookupRecord
from node.query.contribution import EventKind, LoanEvent, Records
from node.query.record import FIELDS, Aggregates

KEEP_SENT = 4


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

    # ---- events --------------------------------------------------------------------------------

    def add_events(self, events: list[LoanEvent]) -> None:
        _append(self.events_file, [json.dumps(
            {"kind": e.kind.value, "applicant_id": e.applicant_id, "day": e.day,
             "loan_id": e.loan_id, "amount_cents": e.amount_cents}, sort_keys=True)
            for e in events])

    def events(self) -> list[LoanEvent]:
        if not self.events_file.exists():
            return []
        out = []
        for line in self.events_file.read_text(encoding="utf-8").splitlines():
            if line.strip():
                data = json.loads(line)
                out.append(LoanEvent(EventKind(data["kind"]), data["applicant_id"], data["day"],
                                     data["loan_id"], data["amount_cents"]))
        return out

    # ---- contributions -------------------------------------------------------------------------

    def next_version(self) -> int:
        return max(self.versions(), default=0) + 1

    def versions(self) -> list[int]:
        return sorted(int(p.stem) for p in (self.folder / "sent").glob("*.json"))

    def save_sent(self, version: int, records: Records) -> None:
        final = self.folder / "sent" / f"{version}.json"
        tmp = final.with_suffix(".tmp")
        data = {key.hex(): values for key, values in records.as_dicts()}
        with open(tmp, "w", encoding="utf-8") as out:
            json.dump(data, out, sort_keys=True)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, final)
        for old in self.versions()[:-KEEP_SENT]:
            (self.folder / "sent" / f"{old}.json").unlink(missing_ok=True)

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

    def pushed_day(self) -> int | None:
        """The UTC day of the last contribution both servers took; None if none was."""
        path = self.folder / "pushed.json"
        if not path.exists():
            return None
        return int(json.loads(path.read_text(encoding="utf-8"))["day"])

    def pushed_layout(self) -> str | None:
        """The table layout of the last contribution both servers took; None if none was."""
        path = self.folder / "pushed.json"
        if not path.exists():
            return None
        return str(json.loads(path.read_text(encoding="utf-8")).get("layout", ""))

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Exclusive use of this store across processes (the CLI and the node both push)."""
        with open(self.folder / ".lock", "a+b") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def sent(self, version: int) -> dict[bytes, Aggregates] | None:
        path = self.folder / "sent" / f"{version}.json"
        if not path.exists():
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
        return {bytes.fromhex(k): Aggregates(**{n: v[n] for n in FIELDS}) for k, v in data.items()}

    # ---- lookups -------------------------------------------------------------------------------

    def add_record(self, record: LookupRecord) -> None:
        _append(self.records_file, [record.to_json()])

    def records(self) -> list[LookupRecord]:
        if not self.records_file.exists():
            return []
        return [LookupRecord.from_json(line) for line in
                self.records_file.read_text(encoding="utf-8").splitlines() if line.strip()]
