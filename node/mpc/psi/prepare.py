"""One party's ids made ready for an engine: normalised, de-duplicated, digested, grouped by bucket.

A bucket is the top 8 bits of an id's 128-bit digest (digest.py), so the two parties agree on it
without talking; partition.py runs the engine on ranges of buckets. Two forms, same interface:

- `PreparedIds` (columns up to `STREAM_ROWS` rows): the normalised ids ('S' array) and their digests
  stay in memory (16 B per id plus the ids).
- `StreamedIds` (larger columns, e.g. 1e8 rows): holds no digest of the whole column. Pass 1 digests
  the column in chunks of 2^20 rows and keeps only each row's bucket (2 B per row, freed once the
  rows are grouped); the rows are then grouped by bucket into one index array (4 B per row) by a
  chunked counting sort. Pass 2 digests one bucket at a time and drops duplicate rows from the index
  array, so the distinct count is exact before the protocol starts. During the run each partition's
  digests are computed again from its rows (pass 3); the matched rows are kept in the front of the
  index, the part the partitions already run have spent (`keep`). Memory: the caller's column,
  4 B per row, and one partition's digests; never a Python str per id ('S' columns stay bytes
  throughout).

`slice(b0, b1)` returns the unique digests of buckets b0 .. b1-1 with their rows; `ids_at(rows)`
returns the normalised ids of rows (for the intersection output); `take_ids(rows)` the same as the
column's last use, gathered into the column's own memory where it can.
"""

from __future__ import annotations

import numpy as np

from node.mpc.psi.digest import digest_ids, unique_digests
from node.mpc.psi.normalize import Normalization, nonempty, normalize_ids

BUCKET_BITS = 8
BUCKETS = 1 << BUCKET_BITS
STREAM_ROWS = 15_000_000  # columns longer than this are prepared as StreamedIds
CHUNK = 1 << 20  # rows normalised and digested at a time
SORT_CHUNK = 1 << 22  # rows per step of the counting sort
_SHIFT = np.uint64(64 - BUCKET_BITS)


def bucket_of(digests: np.ndarray) -> np.ndarray:
    """The bucket (top 8 bits of the high word) of each digest, as uint16."""
    return (digests[:, 1] >> _SHIFT).astype(np.uint16)


def group_rows(bucket: np.ndarray, skip: int = BUCKETS) -> tuple[np.ndarray, np.ndarray]:
    """(rows grouped by bucket, ascending within a bucket; starts of each bucket, BUCKETS + 1
    entries), leaving out rows whose bucket is `skip`. A chunked stable counting sort: no int64
    permutation of the whole array is ever held."""
    n = bucket.size
    counts = np.zeros(BUCKETS + 1, dtype=np.int64)
    for c0 in range(0, n, SORT_CHUNK):  # bincount casts to int64: 8 B per row if done at once
        counts += np.bincount(bucket[c0 : c0 + SORT_CHUNK], minlength=BUCKETS + 1)[: BUCKETS + 1]
    starts = np.zeros(BUCKETS + 2, dtype=np.int64)
    np.cumsum(counts, out=starts[1:])
    order = np.empty(int(starts[BUCKETS]), dtype=np.int32 if n < 2**31 else np.int64)
    ptr = starts[: BUCKETS + 1].copy()
    for c0 in range(0, n, SORT_CHUNK):
        b = bucket[c0 : c0 + SORT_CHUNK]
        idx = np.argsort(b, kind="stable")
        bs = b[idx]
        cc = np.bincount(bs, minlength=BUCKETS + 1)
        first = np.zeros(BUCKETS + 1, dtype=np.int64)
        np.cumsum(cc[:-1], out=first[1:])
        keep = bs != skip
        pos = ptr[bs[keep]] + np.flatnonzero(keep) - first[bs[keep]]
        order[pos] = idx[keep] + c0
        ptr += cc
    return order, starts[: BUCKETS + 1]


def keep_front(order: np.ndarray, kept: int, start: int, positions: np.ndarray) -> int:
    """order[start + positions] written to order[kept:] (their copy is taken first); returns
    the new kept count. With ranges taken in ascending order, each once, the front up to
    `start` is spent (already run), so matched rows need no memory of their own."""
    order[kept : kept + positions.size] = order[np.add(positions, start, dtype=np.int64)]
    return kept + int(positions.size)


class PreparedIds:
    """One party's ids after normalisation and de-duplication, with their digests, in memory."""

    def __init__(self, column: np.ndarray, norm: Normalization) -> None:
        ids = normalize_ids(column, norm)
        rows = nonempty(ids)
        if rows.size < ids.size:  # copies only when something is dropped
            ids = ids[rows]
        del rows
        digests = digest_ids(ids)
        keep = unique_digests(digests)
        if keep.size < ids.size:
            ids, digests = ids[keep], np.ascontiguousarray(digests[keep])
        self.ids = ids
        self.digests = digests
        self._grouped: tuple[np.ndarray, np.ndarray] | None = None
        self._kept = 0

    def __len__(self) -> int:
        return int(self.digests.shape[0])

    def all_digests(self) -> tuple[np.ndarray, np.ndarray | None]:
        """(every unique digest, None: the rows are the digests' own indices)."""
        return self.digests, None

    def slice(self, b0: int, b1: int) -> tuple[np.ndarray, np.ndarray]:
        """(unique digests of buckets b0 .. b1-1, their rows)."""
        if self._grouped is None:
            self._grouped = group_rows(bucket_of(self.digests))
        order, starts = self._grouped
        rows = order[starts[b0] : starts[b1]]
        return self.digests[rows], rows

    def keep(self, b0: int, positions: np.ndarray) -> None:
        """Keep the rows at `positions` of `slice(b0, …)`'s rows as matched (ranges in
        ascending order, each once; that slice's rows are spent after this)."""
        assert self._grouped is not None
        order, starts = self._grouped
        self._kept = keep_front(order, self._kept, int(starts[b0]), positions)

    def kept_rows(self) -> np.ndarray:
        """The rows kept so far, sorted: a view of the index, which stays until they go."""
        if self._grouped is None:
            return np.zeros(0, dtype=np.int64)
        rows = self._grouped[0][: self._kept]
        rows.sort()
        return rows

    def ids_at(self, rows: np.ndarray) -> np.ndarray:
        """The normalised ids of `rows` (a copy)."""
        return self.ids[rows]

    def take_ids(self, rows: np.ndarray) -> np.ndarray:
        """`ids_at(rows)` as the ids' last use (a copy: in-memory sets are small)."""
        return self.ids_at(rows)

    def release(self) -> None:
        """Once the outputs are gathered: drop the ids (fresh empty arrays, not views, so no
        reference to the caller's column is left)."""
        self.ids = np.empty(0, dtype=self.ids.dtype)
        self.digests = np.empty((0, 2), dtype=np.uint64)
        self._grouped = None

    def drop_digests(self) -> None:
        """Once the engine is done: only `ids_at` is used after this."""
        self.digests = self.digests[:0]
        self._grouped = None


class StreamedIds:
    """A large column prepared without holding its digests (see the module docstring)."""

    def __init__(self, column: np.ndarray, norm: Normalization) -> None:
        self.column = column
        self.norm = norm
        bucket = np.empty(column.shape[0], dtype=np.uint16)
        for c0 in range(0, column.shape[0], CHUNK):  # pass 1: buckets only
            ids = normalize_ids(column[c0 : c0 + CHUNK], norm)
            b = bucket_of(digest_ids(ids))
            empty = np.ones(ids.size, dtype=bool)
            empty[nonempty(ids)] = False
            b[empty] = BUCKETS
            bucket[c0 : c0 + ids.size] = b
        order, starts = group_rows(bucket)
        del bucket
        write = 0
        new_starts = np.zeros(BUCKETS + 1, dtype=np.int64)
        for b in range(BUCKETS):  # pass 2: duplicates out, bucket by bucket
            rows = order[starts[b] : starts[b + 1]]
            keep = unique_digests(self._digests(rows))
            kept = rows if keep.size == rows.size else rows[np.sort(keep)]
            order[write : write + kept.size] = kept
            write += kept.size
            new_starts[b + 1] = write
        self.order = order[:write] if write == order.size else order[:write].copy()
        self.starts = new_starts
        self._kept = 0

    def _digests(self, rows: np.ndarray) -> np.ndarray:
        out = np.empty((rows.size, 2), dtype=np.uint64)
        for c0 in range(0, rows.size, CHUNK):
            part = rows[c0 : c0 + CHUNK]
            out[c0 : c0 + part.size] = digest_ids(normalize_ids(self.column[part], self.norm))
        return out

    def __len__(self) -> int:
        return int(self.order.size)

    def all_digests(self) -> tuple[np.ndarray, np.ndarray | None]:
        return self.slice(0, BUCKETS)

    def slice(self, b0: int, b1: int) -> tuple[np.ndarray, np.ndarray]:
        rows = self.order[self.starts[b0] : self.starts[b1]]
        return self._digests(rows), rows

    def keep(self, b0: int, positions: np.ndarray) -> None:
        """As `PreparedIds.keep`, into the front of the row index."""
        self._kept = keep_front(self.order, self._kept, int(self.starts[b0]), positions)

    def kept_rows(self) -> np.ndarray:
        """As `PreparedIds.kept_rows`: a view of the row index (4 B per row), which stays
        until the rows go."""
        rows = self.order[: self._kept]
        rows.sort()
        return rows

    def drop_digests(self) -> None:
        """Once the engine is done: the row index goes (4 B per row), `ids_at` still works."""
        self.order = self.order[:0].copy()

    def release(self) -> None:
        """Once the outputs are gathered: drop the column (a fresh empty array, not a view)."""
        self.column = np.empty(0, dtype=self.column.dtype)
        self.order = np.empty(0, dtype=self.order.dtype)

    def ids_at(self, rows: np.ndarray) -> np.ndarray:
        """The normalised ids of `rows`, in ascending row order, gathered chunk by chunk."""
        if rows.size > 1 and not bool((rows[1:] >= rows[:-1]).all()):
            rows = np.sort(rows)
        width = max(self.column.dtype.itemsize, 1)
        return self._gather(rows, np.empty(rows.size, dtype=f"S{width}"))

    def take_ids(self, rows: np.ndarray) -> np.ndarray:
        """`ids_at(rows)` as the column's last use: when the column is a writable packed 'S'
        array and `rows` strictly ascend, the ids are gathered into the column's own first
        rows (row i's source is at row >= i, read before it is overwritten), so no second
        buffer of the ids' size is ever allocated (at 1e8 rows: 0.8 GB less at the peak). The
        result may be a view of the column; only `release()` may follow."""
        col = self.column
        if not (col.dtype.kind == "S" and col.flags.c_contiguous and col.flags.writeable
                and (rows.size < 2 or bool((rows[1:] > rows[:-1]).all()))):
            return self.ids_at(rows)
        return self._gather(rows, col)

    def _gather(self, rows: np.ndarray, out: np.ndarray) -> np.ndarray:
        """The normalised ids of ascending `rows` into out[:rows.size] (or, when normalising
        widened one, a new concatenated array)."""
        width = out.dtype.itemsize
        wider: list[np.ndarray] = []
        for c0 in range(0, rows.size, CHUNK):
            part = normalize_ids(self.column[rows[c0 : c0 + CHUNK]], self.norm)
            if part.dtype.itemsize > width:  # a case or normal form grew an id: concatenate
                wider.append(part)
            elif not wider:
                out[c0 : c0 + part.size] = part
            else:
                wider.append(part)
        if wider:
            done = (rows.size - sum(p.size for p in wider))
            return np.concatenate([out[:done], *wider])
        return out[: rows.size]


def prepare_ids(
    column: np.ndarray, norm: Normalization, stream_rows: int = STREAM_ROWS
) -> PreparedIds | StreamedIds:
    """In memory for ordinary columns, streamed past `stream_rows` rows."""
    if column.shape[0] > stream_rows:
        return StreamedIds(column, norm)
    return PreparedIds(column, norm)
