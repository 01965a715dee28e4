"""The node's local failure log: the full story of each failed run (exception text, local paths,
cell values) that must not reach the ledger. One JSON object per line in `failures.jsonl` in the
node's directory, readable only by its owner; `read(node_dir, job_id)` gives a job's entries to
`alliance job why JOB`.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

from node.errors import NodeError

FILE_NAME = "failures.jsonl"
_lock = threading.Lock()


@dataclass(frozen=True)
class FailureEntry:
    job_id: str
    run: int
    at: int
    """Unix seconds."""
    code: str
    """The code published on the ledger (alliance.failures.FailureCode)."""
    input: str | None
    row: int | None
    """1-based data row."""
    peer: str | None
    detail: str
    """Local only: the exception chain's text."""


def log_path(node_dir: Path) -> Path:
    return Path(node_dir) / FILE_NAME


def record(node_dir: Path, entry: FailureEntry) -> None:
    """Append `entry` (the file is created owner-only)."""
    path = log_path(node_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(asdict(entry), ensure_ascii=False, sort_keys=True) + "\n"
    with _lock:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as handle:
            handle.write(line)


def read(node_dir: Path, job_id: str) -> list[FailureEntry]:
    """This node's entries for `job_id`, oldest first (empty when it logged none)."""
    path = log_path(node_dir)
    if not path.exists():
        return []
    entries = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise NodeError(f"cannot read the failure log {path}: {exc.strerror}") from exc
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            entry = FailureEntry(**data)
        except (ValueError, TypeError):
            raise NodeError(
                f"{path} line {number} is not a failure entry; the file was edited or truncated"
            ) from None
        if entry.job_id == job_id:
            entries.append(entry)
    return entries


def describe(exc: BaseException) -> str:
    """The exception and its causes, as one local line each joined by ' <- '."""
    parts = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        parts.append(f"{type(current).__name__}: {current}")
        current = current.__cause__ or current.__context__
    return " <- ".join(parts)
