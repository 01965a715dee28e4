"""Row alignment by a PSI intersection: every party orders its rows by the same id list.

A modelling job names a completed PSI job whose intersection went to every data party. Each party
passes that intersection (the PSI `intersection` output: sorted, normalised ids, as CSV)
and its own id column; `alignment_order` gives the row positions that put its rows in the
intersection's order, so row k is the same person at every party without anyone matching by hand.
The ids are normalised exactly as the PSI job did (`Normalization`, default `trim,nfc`).
`alignment_digest` names the list the rows follow; parties compare digests before computing.
"""

from __future__ import annotations

import csv
import hashlib
import io

import numpy as np

from node.errors import ProtocolError
from node.mpc.psi.normalize import Normalization, normalize_ids
from node.mpc.psi.output import CSV_HEADER

ALIGNMENT_KEY = "alignment:intersection"
"""Reserved local input: this party's copy of the PSI intersection (uint8 bytes of the output)."""

UNALIGNED = "sha256:rows-as-given"


def parse_intersection(data: bytes) -> np.ndarray:
    """The PSI `intersection` output as an 'S' array of ids: the CSV the PSI writes (header
    `id`, one id per line, RFC 4180 quoting where an id needs it), or the older ids joined by
    "\n" (empty output -> no ids)."""
    if data.startswith(CSV_HEADER):
        body = data[len(CSV_HEADER):]
        if b'"' in body:
            rows = csv.reader(io.StringIO(body.decode("utf-8"), newline=""))
            return np.array([row[0].encode("utf-8") for row in rows], dtype="S")
        lines = body.split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()
        return np.array(lines, dtype="S") if lines else np.zeros(0, dtype="S1")
    if not data:
        return np.zeros(0, dtype="S1")
    return np.array(data.split(b"\n"))


def alignment_digest(data: bytes | None) -> str:
    if data is None:
        return UNALIGNED
    return "sha256:" + hashlib.sha256(data).hexdigest()


def alignment_order(ids: np.ndarray, intersection: np.ndarray,
                    normalization: Normalization | None = None) -> np.ndarray:
    """Positions p with normalise(ids)[p] == intersection, in the intersection's order.

    Raises ProtocolError when an intersection id is missing here or appears on several rows
    (the data changed since the PSI job, or the wrong id column was named)."""
    norm = normalization or Normalization.parse(None)
    mine = normalize_ids(np.asarray(ids), norm)
    if intersection.size == 0:
        return np.zeros(0, dtype=np.int64)
    width = f"S{max(mine.dtype.itemsize, intersection.dtype.itemsize, 1)}"
    mine, intersection = mine.astype(width), intersection.astype(width)
    order = np.argsort(mine, kind="stable")
    sorted_ids = mine[order]
    at = np.searchsorted(sorted_ids, intersection)
    at_clipped = np.minimum(at, len(sorted_ids) - 1)
    found = (at < len(sorted_ids)) & (sorted_ids[at_clipped] == intersection)
    if not found.all():
        raise ProtocolError(
            f"{int((~found).sum())} ids of the alignment PSI's intersection are not in this "
            "party's id column; the data changed since the PSI job or the wrong id column is "
            "named — run a new PSI job on the current data (`alliance job request --protocol psi`)"
        )
    nxt = np.minimum(at + 1, len(sorted_ids) - 1)
    dup = (at + 1 < len(sorted_ids)) & (sorted_ids[nxt] == intersection)
    if dup.any():
        raise ProtocolError(
            f"{int(dup.sum())} intersection ids appear on several rows of this party's id column; "
            "de-duplicate the dataset, register it again (`alliance dataset register`) and re-run "
            "the PSI job"
        )
    return order[at]


def align_columns(columns: dict[str, np.ndarray], order: np.ndarray) -> dict[str, np.ndarray]:
    """Every column reordered (and cut) to the aligned rows."""
    return {key: np.asarray(col)[order] for key, col in columns.items()}
