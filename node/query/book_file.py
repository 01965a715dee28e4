"""A member's loan book kept between pushes (`book.npz` in its query store): the book's arrays
as of the first `offset` bytes of its events file, so a push reads and ingests only the events
stored since, not every event again (2^22 applicants, one member: ~40 s per push before).

It is a cache; the events file stays the record. A snapshot that is missing, unreadable, of
another format, member or salt, or whose events file no longer begins with what it was taken of
(shorter, or other bytes just before its offset: restored from a backup, edited) is not used: the
book is built again from every stored event, and the reason logged.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from node.query.contribution import BookState
from node.query.layout import CHOICES, KEY_BYTES

log = logging.getLogger(__name__)

FORMAT = 1
TAIL_BYTES = 1 << 16
"""How much of the events file before the offset a snapshot fingerprints: the file is only
ever appended to, so a change before the offset is a file replaced or edited, which its end
shows (hashing the whole file at every push would cost a read of it)."""
_ARRAYS = ("keys", "positions", "tags", "applied_by", "applied_on", "loan_applicants",
           "loan_outstanding")


@dataclass(frozen=True)
class Snapshot:
    state: BookState
    offset: int
    """Bytes of the events file the book holds (a line's start)."""


def salt_digest(salt: bytes) -> str:
    """Names the salt the book's applicants were hashed with, without holding it."""
    return hashlib.sha256(b"alliance/query/book-salt/" + salt).hexdigest()


def _tail(events_file: Path, offset: int) -> str:
    with open(events_file, "rb") as handle:
        start = max(0, offset - TAIL_BYTES)
        handle.seek(start)
        data = handle.read(offset - start)
    if len(data) != offset - start:
        raise ValueError("the events file is shorter than the book")
    return hashlib.sha256(data).hexdigest()


def save(path: Path, state: BookState, *, member: str, salt: bytes, events_file: Path,
         offset: int) -> None:
    """Write the snapshot under a temporary name, fsync it, and rename it into place."""
    meta = {"format": FORMAT, "member": member, "salt": salt_digest(salt), "offset": offset,
            "tail": _tail(events_file, offset), "events": state.events,
            "part_blocks": state.part_blocks, "pruned_at": state.pruned_at}
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as out:
        np.savez(out, meta=np.frombuffer(json.dumps(meta).encode(), np.uint8),
                 loan_ids=np.frombuffer(json.dumps(state.loan_ids).encode(), np.uint8),
                 **{name: getattr(state, name) for name in _ARRAYS})
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)


def load(path: Path, *, member: str, salt: bytes, events_file: Path) -> Snapshot | None:
    """The snapshot at `path` if it holds `member`'s book hashed with `salt` and `events_file`
    still begins with what it was taken of; None (the reason logged) otherwise."""
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as arrays:
            meta: dict[str, Any] = json.loads(arrays["meta"].tobytes())
            why = _unusable(meta, member=member, salt=salt, events_file=events_file)
            if why:
                log.info("not using the kept loan book %s: %s; building it from every stored "
                         "event", path, why)
                return None
            loaded = {name: arrays[name] for name in _ARRAYS}
            loan_ids = json.loads(arrays["loan_ids"].tobytes())
        pruned_at = meta["pruned_at"]
        state = BookState(**loaded, loan_ids=loan_ids, part_blocks=int(meta["part_blocks"]),
                          events=int(meta["events"]),
                          pruned_at=None if pruned_at is None else int(pruned_at))
        _check_shapes(state)
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as exc:
        log.warning("the kept loan book %s is unreadable (%s); building it from every stored "
                    "event", path, exc)
        return None
    return Snapshot(state, int(meta["offset"]))


def _unusable(meta: dict[str, Any], *, member: str, salt: bytes, events_file: Path) -> str:
    if meta.get("format") != FORMAT:
        return f"format {meta.get('format')!r}, this node reads {FORMAT}"
    if meta.get("member") != member:
        return f"it is {meta.get('member')!r}'s, not {member!r}'s"
    if meta.get("salt") != salt_digest(salt):
        return "its applicants were hashed with another alliance salt"
    offset = int(meta["offset"])
    if not events_file.exists() or events_file.stat().st_size < offset:
        return "the events file is shorter than what the book holds"
    if _tail(events_file, offset) != meta.get("tail"):
        return "the events file is not the one the book was built from"
    return ""


def _check_shapes(state: BookState) -> None:
    applicants = len(state.keys)
    if (state.keys.shape != (applicants, KEY_BYTES) or state.tags.shape != (applicants,)
            or state.positions.shape != (applicants, CHOICES)
            or state.applied_by.shape != state.applied_on.shape
            or not (len(state.loan_ids) == len(state.loan_applicants)
                    == len(state.loan_outstanding))
            or any(len(numbers) and not 0 <= numbers.min() <= numbers.max() < applicants
                   for numbers in (state.applied_by, state.loan_applicants))):
        raise ValueError("its arrays do not fit together")
