"""The intersection output, built without a per-id Python loop: sort ids bytewise, join by "\\n".

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

import numpy as np

_CHUNK = 1 << 20


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
