"""Id normalisation: the job's `normalize` parameter made one canonical UTF-8 string per id.

Both parties must map "the same customer" to the same bytes, so normalisation is fixed and
deterministic. The parameter is parsed by the psi spec (`alliance.protocols.psi.Normalization`,
which the contract checked at request); this module applies it to whole columns. Steps
(comma-separated, applied in this fixed order whatever the order written): `nfc` | `nfkc`
(Unicode normal form), `trim` (Python's `str.strip()`: Unicode whitespace at both ends), one case
step `lower` | `upper` | `casefold` (then the normal form again, since case mapping can leave a
string outside it). `none` or "" means bytes as given. The default is `trim,nfc`.

Rows that normalise to the empty string are not ids and are dropped. An id may not contain a
newline (an id is one line of the intersection CSV): such an input is refused with a clear error.
Duplicates are removed later, on the ids' digests (digest.py), so they never count twice.

The hot path is vectorised: ASCII rows (the usual case) go through numpy's string ufuncs; only the
rows holding non-ASCII characters take a per-row Python path (Unicode case and normal forms).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from alliance.protocols.psi import DEFAULT_NORMALIZATION as DEFAULT_NORMALIZATION
from alliance.protocols.psi import Normalization
from node.errors import DatasetError

_ASCII_SPACE = " \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f"  # exactly the ASCII chars str.isspace() accepts


def _as_text_array(values: np.ndarray) -> np.ndarray:
    """The input column as a 'U' or 'S' numpy array (object arrays of str are converted)."""
    arr = np.asarray(values)
    if arr.ndim != 1:
        arr = arr.reshape(-1)
    if arr.dtype.kind in "US":
        return arr
    if arr.dtype.kind == "O":
        if np.equal(arr, None).any():
            raise DatasetError("the id column holds empty (None) cells; clean them or drop them")
        if any(isinstance(v, bytes) for v in arr[:1]) or any(isinstance(v, bytes) for v in arr):
            return np.asarray([_text(v) for v in arr.tolist()], dtype=str)
        return arr.astype(str)
    # numbers: their decimal text
    return arr.astype(str)


def _text(value: object) -> str:
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DatasetError(f"id {value!r} is not valid UTF-8; re-encode the column") from exc
    return str(value)


def _rows_any(mat: np.ndarray, test: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Per row, whether `test` holds for any column: one long 1-D op per column (fast in numpy,
    unlike a reduction over a short inner axis)."""
    acc = np.zeros(mat.shape[0], dtype=bool)
    for col in range(mat.shape[1]):
        acc |= test(mat[:, col])
    return acc


def _ascii_rows(arr: np.ndarray) -> np.ndarray:
    """Boolean mask of rows made only of ASCII characters (tested a machine word at a time)."""
    if arr.size == 0 or arr.dtype.itemsize == 0:
        return np.ones(arr.size, dtype=bool)
    width = arr.dtype.itemsize
    unit = next(u for u in (8, 4, 2, 1) if width % u == 0)
    high = (0xFFFFFF80 if arr.dtype.kind == "U" else 0x80808080).to_bytes(4, "little")
    mask = np.frombuffer((high * 2)[:unit], dtype=f"<u{unit}")[0]
    words = np.ascontiguousarray(arr).view(f"<u{unit}").reshape(arr.size, width // unit)
    return ~_rows_any(words, lambda c: (c & mask) != 0)


_SPACE_TABLE = np.zeros(256, dtype=bool)
_SPACE_TABLE[np.frombuffer(_ASCII_SPACE.encode(), dtype=np.uint8)] = True


def _ascii_steps(fast: np.ndarray, norm: Normalization) -> np.ndarray:
    """Trim and case on an ASCII 'S' array, applied only to the rows that need it."""
    if fast.size == 0 or fast.dtype.itemsize == 0:
        return fast
    width = fast.dtype.itemsize
    if norm.trim:
        flat = np.ascontiguousarray(fast).view(np.uint8)
        last_at = np.strings.str_len(fast).astype(np.int64)
        np.maximum(last_at, 1, out=last_at)
        last_at += np.arange(-1, (fast.size - 1) * width, width, dtype=np.int64)
        edge = _SPACE_TABLE[flat[::width]]
        edge |= _SPACE_TABLE[flat.take(last_at)]
        rows = np.flatnonzero(edge)
        if rows.size:
            fast = fast.copy()
            fast[rows] = np.strings.strip(fast[rows], _ASCII_SPACE.encode())
    if norm.case:
        mat = np.ascontiguousarray(fast).view(np.uint8).reshape(fast.size, width)
        lo, hi = (65, 90) if norm.case in ("lower", "casefold") else (97, 122)
        rows = np.flatnonzero(_rows_any(mat, lambda c: (c >= lo) & (c <= hi)))
        if rows.size:
            fast = fast.copy()
            change = np.strings.upper if norm.case == "upper" else np.strings.lower
            fast[rows] = change(fast[rows])
    return fast


def normalize_ids(values: np.ndarray, norm: Normalization) -> np.ndarray:
    """Normalised ids as a numpy 'S' array of UTF-8 bytes, one per input row (empties kept as b'').

    Raises DatasetError if an id holds a newline.
    """
    arr = _as_text_array(values)
    n = arr.size
    ascii_mask = _ascii_rows(arr)
    fast = arr if ascii_mask.all() else arr[ascii_mask]
    if fast.dtype.kind == "U":
        fast = fast.astype(f"S{max(fast.dtype.itemsize // 4, 1)}")
    fast = _ascii_steps(fast, norm)
    if ascii_mask.all():
        out = fast
    else:
        slow_rows = np.flatnonzero(~ascii_mask)
        slow = [
            norm.apply_str(_text(v)).encode("utf-8")
            for v in arr[slow_rows].tolist()
        ]
        width = max(fast.dtype.itemsize, max((len(s) for s in slow), default=1), 1)
        out = np.empty(n, dtype=f"S{width}")
        out[ascii_mask] = fast
        out[slow_rows] = np.asarray(slow, dtype=f"S{width}")
    if out.dtype.itemsize and out.size and _has_newline(out):
        raise DatasetError(
            "an id contains a newline; ids must be single-line strings — clean the column "
            "(an id is one line of the intersection CSV)"
        )
    return out


def _has_newline(ids: np.ndarray, block: int = 1 << 20) -> bool:
    flat = np.ascontiguousarray(ids).view(np.uint8)
    step = block * ids.dtype.itemsize
    return any(bool((flat[i : i + step] == 10).any()) for i in range(0, flat.size, step))


def nonempty(ids: np.ndarray) -> np.ndarray:
    """Row indices of ids that are not empty after normalisation."""
    if ids.size == 0:
        return np.zeros(0, dtype=np.int64)
    if ids.dtype.itemsize == 0:
        return np.zeros(0, dtype=np.int64)
    first = np.ascontiguousarray(ids).view(np.uint8)[:: ids.dtype.itemsize]
    maybe_empty = np.flatnonzero(first == 0)  # 'S' values are NUL-padded
    if maybe_empty.size == 0:
        return np.arange(ids.size)
    keep = np.ones(ids.size, dtype=bool)
    keep[maybe_empty] = np.strings.str_len(ids[maybe_empty]) > 0
    return np.flatnonzero(keep)
