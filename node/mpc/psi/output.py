"""The intersection output, built without a per-id Python loop: sort ids bytewise, join by "\\n".

Sorting: numpy's string sort compares with memcmp (~0.5 us per id at 5e6). Ids of one column often
share a prefix and are short after it (fixed-width customer numbers): the bytes that every id has
in common are set aside, and when what remains fits in 8 bytes the ids are sorted as big-endian
uint64 keys with numpy's vectorised integer sort (~20x faster). Otherwise the string sort runs.
Ids are unique here, and contain no NUL (normalised text), so zero padding sorts like "shorter".
"""

from __future__ import annotations

import numpy as np


def _matrix(ids: np.ndarray) -> np.ndarray:
    ids = np.ascontiguousarray(ids)
    return ids.view(np.uint8).reshape(ids.size, ids.dtype.itemsize)


def sort_ids(ids: np.ndarray) -> np.ndarray:
    """The 'S' array sorted bytewise."""
    if ids.size < 2 or ids.dtype.itemsize == 0:
        return np.sort(ids)
    mat = _matrix(ids)
    varying = np.flatnonzero([(mat[:, c] != mat[0, c]).any() for c in range(mat.shape[1])])
    if varying.size == 0:
        return ids.copy()
    first, last = int(varying[0]), int(varying[-1])
    if last - first >= 8:
        return np.sort(ids)
    span = last - first + 1
    key = np.zeros((ids.size, 8), dtype=np.uint8)
    key[:, :span] = mat[:, first : last + 1]
    keys = np.sort(key.view(">u8").reshape(-1).astype(np.uint64))
    # Every column outside [first, last] is the same in all ids: rebuild from the sorted keys.
    out = np.empty_like(mat)
    out[:] = mat[0]
    out[:, first : last + 1] = keys.astype(">u8").view(np.uint8).reshape(ids.size, 8)[:, :span]
    return out.view(ids.dtype).reshape(-1)


def join_lines(ids: np.ndarray) -> bytes:
    """b"\\n".join(ids) for an 'S' array, vectorised (trailing zero padding dropped)."""
    if ids.size == 0:
        return b""
    width = ids.dtype.itemsize
    mat = np.zeros((ids.size, width + 1), dtype=np.uint8)
    mat[:, :width] = _matrix(ids)
    lengths = np.strings.str_len(ids)
    mat[np.arange(ids.size), lengths] = 10
    keep = np.arange(width + 1) <= lengths[:, None]
    keep[-1, lengths[-1]] = False  # no newline after the last id
    return mat[keep].tobytes()
