"""The intersection output, built without a per-id Python loop: ids sorted bytewise, written as CSV.

The `intersection` output is a CSV file: a header line `id`, then one id per line, each line
ended by "\\n" (so an empty intersection is `id\\n`), UTF-8; an id containing a comma, a double
quote, CR or LF is quoted as RFC 4180 says (in double quotes, inner quotes doubled). It is
produced as a `StreamedOutput` (`intersection_csv`): chunks of 2^20 lines, so the node writes it
to its staged file and digests it without ever holding it as one `bytes`.

Sorting: numpy's string sort compares with memcmp (~0.5 us per id at 5e6). Ids of one column often
share a prefix and are short after it (fixed-width customer numbers): the bytes that every id has
in common are set aside, and when what remains fits in 8 bytes the ids are sorted as big-endian
uint64 keys with numpy's vectorised integer sort (~20x faster). Otherwise the string sort runs.
Ids are unique here, and contain no NUL (normalised text), so zero padding sorts like "shorter".

Memory (5e7 ids of 16 bytes, the 1e8 benchmark's intersection): `sort_ids_inplace` needs the ids
plus 8 bytes per id of keys; `join_lines_buffer` writes the output into
one array of its final size, chunk by chunk. The caller that drops the ids before turning that
buffer into bytes holds at most output + ids, then output twice, for an instant.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

import numpy as np

from node.mpc.protocol import StreamedOutput

_CHUNK = 1 << 20
CSV_HEADER = b"id\n"
_NEEDS_QUOTES = np.array([ord(","), ord('"'), ord("\n"), ord("\r")], dtype=np.uint8)


def _matrix(ids: np.ndarray) -> np.ndarray:
    ids = np.ascontiguousarray(ids)
    return ids.view(np.uint8).reshape(ids.size, ids.dtype.itemsize)


def sort_ids_inplace(ids: np.ndarray) -> np.ndarray:
    """Sorts a contiguous 'S' array bytewise in place (and returns it)."""
    if ids.size < 2 or ids.dtype.itemsize == 0:
        ids.sort()
        return ids
    mat = _matrix(ids)
    varying = np.flatnonzero([(mat[:, c] != mat[0, c]).any() for c in range(mat.shape[1])])
    if varying.size == 0:
        return ids
    first, last = int(varying[0]), int(varying[-1])
    if last - first >= 8:
        ids.sort()
        return ids
    span = last - first + 1
    # Byte j of the varying span is the key's j-th most significant byte, written straight into
    # the native uint64 (no big-endian copy: 8 bytes per id in all).
    keys = np.zeros(ids.size, dtype=np.uint64)
    key_bytes = keys.view(np.uint8).reshape(ids.size, 8)
    at = [7 - j if sys.byteorder == "little" else j for j in range(span)]
    for j in range(span):
        key_bytes[:, at[j]] = mat[:, first + j]
    keys.sort()
    # Every column outside [first, last] is the same in all ids: write the sorted keys back.
    for j in range(span):
        mat[:, first + j] = key_bytes[:, at[j]]
    return ids


def sort_ids(ids: np.ndarray) -> np.ndarray:
    """The 'S' array sorted bytewise (a sorted copy)."""
    return sort_ids_inplace(np.array(ids, copy=True))


def _joined(ids: np.ndarray, last: bool) -> np.ndarray:
    """The bytes of ids each followed by "\\n" (none after the final id if `last`)."""
    width = ids.dtype.itemsize
    mat = np.zeros((ids.size, width + 1), dtype=np.uint8)
    mat[:, :width] = _matrix(ids)
    lengths = np.strings.str_len(ids)
    mat[np.arange(ids.size), lengths] = 10
    keep = np.arange(width + 1) <= lengths[:, None]
    if last:
        keep[-1, lengths[-1]] = False
    return mat[keep]


def join_lines_buffer(ids: np.ndarray) -> np.ndarray:
    """b"\\n".join(ids) as a uint8 array, built chunk by chunk into its final size."""
    if ids.size == 0:
        return np.zeros(0, dtype=np.uint8)
    total = ids.size - 1
    for c0 in range(0, ids.size, _CHUNK):
        total += int(np.strings.str_len(ids[c0 : c0 + _CHUNK]).sum())
    out = np.empty(total, dtype=np.uint8)
    at = 0
    for c0 in range(0, ids.size, _CHUNK):
        part = _joined(ids[c0 : c0 + _CHUNK], last=c0 + _CHUNK >= ids.size)
        out[at : at + part.size] = part
        at += part.size
    return out


def join_lines(ids: np.ndarray) -> bytes:
    """b"\\n".join(ids) for an 'S' array, vectorised (trailing zero padding dropped)."""
    return join_lines_buffer(ids).tobytes()


def _quoted(value: bytes) -> bytes:
    if any(c in value for c in (b",", b'"', b"\n", b"\r")):
        return b'"' + value.replace(b'"', b'""') + b'"'
    return value


def csv_lines(ids: np.ndarray) -> bytes:
    """The CSV lines of a chunk of ids: each id (quoted where it must be) then "\\n"."""
    if ids.size == 0:
        return b""
    if not np.isin(_matrix(ids), _NEEDS_QUOTES).any():
        return _joined(ids, last=False).tobytes()
    return b"".join(_quoted(bytes(value)) + b"\n" for value in ids.tolist())


def intersection_csv(sorted_ids: np.ndarray, chunk: int = _CHUNK) -> StreamedOutput:
    """The `intersection` output of sorted unique ids, streamed: header, then chunks of lines.
    Holds only `sorted_ids` (and one chunk of lines at a time)."""

    def chunks() -> Iterator[bytes]:
        yield CSV_HEADER
        for c0 in range(0, sorted_ids.size, chunk):
            yield csv_lines(sorted_ids[c0 : c0 + chunk])

    return StreamedOutput("csv", chunks)
