"""The committed world state in memory: key → (value, version), with keys kept sorted for scans.

Loaded from SQLite at start and updated only after a block is durably stored, so simulations
read exactly what has been committed.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator

from network.protoutil import Version


class WorldState:
    def __init__(self, rows: Iterable[tuple[str, bytes, int, int]] = ()) -> None:
        self._values: dict[str, tuple[bytes, Version]] = {}
        for key, value, block, txnum in rows:
            self._values[key] = (value, (block, txnum))
        self._keys = sorted(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def get(self, key: str) -> tuple[bytes, Version] | None:
        return self._values.get(key)

    def version(self, key: str) -> Version | None:
        entry = self._values.get(key)
        return entry[1] if entry else None

    def range(
        self, start: str, end: str, *, end_inclusive: bool = False
    ) -> Iterator[tuple[str, bytes, Version]]:
        """Keys in [start, end) (or [start, end] when inclusive) in order; empty end: no bound.

        The slice taken at the first step is a snapshot: a later commit cannot break the scan."""
        keys = self._keys
        lo = bisect.bisect_left(keys, start)
        if not end:
            hi = len(keys)
        elif end_inclusive:
            hi = bisect.bisect_right(keys, end)
        else:
            hi = bisect.bisect_left(keys, end)
        for key in keys[lo:hi]:
            entry = self._values.get(key)
            if entry is not None:
                yield key, entry[0], entry[1]

    def apply(self, key: str, value: bytes | None, version: Version) -> None:
        if value is None:
            if self._values.pop(key, None) is not None:
                del self._keys[bisect.bisect_left(self._keys, key)]
            return
        if key not in self._values:
            bisect.insort(self._keys, key)
        self._values[key] = (value, version)
