"""The committed world state as simulation and validation read it.

`CachedWorldState` (what devnet runs): served from the SQLite ledger through a bounded LRU cache,
updated only after a block is durably stored, so simulations read exactly what has been
committed and memory does not grow with the ledger. `WorldState`: the same reads over a dict
(validation's unit tests, repair's in-memory replay of small ledgers).
"""

from __future__ import annotations

import bisect
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from typing import Protocol

from network.protoutil import Version


class WorldState:
    """key → (value, version) in memory, with keys kept sorted for scans."""

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


class CommittedState(Protocol):
    """What simulation and validation read: committed values, versions, ordered scans."""

    def get(self, key: str) -> tuple[bytes, Version] | None: ...

    def version(self, key: str) -> Version | None: ...

    def range(
        self, start: str, end: str, *, end_inclusive: bool = False
    ) -> Iterator[tuple[str, bytes, Version]]: ...


class StateSource(Protocol):
    def state_entry(self, key: str) -> tuple[bytes, Version] | None: ...

    def state_range(
        self, start: str, end: str, *, end_inclusive: bool = False, limit: int = 256
    ) -> list[tuple[str, bytes, Version]]: ...

    def state_count(self) -> int: ...


DEFAULT_CACHE_BYTES = 16 * 1024 * 1024
"""Enough for the working set of a busy consortium (jobs, charter, members, recent datasets)."""
ENTRY_OVERHEAD = 360
"""Bytes of a cached entry besides its key's and value's characters (OrderedDict node, str and
bytes headers, the entry and version tuples, two ints), measured on CPython 3.11."""
RANGE_PAGE = 256

_MISSING = object()


class CachedWorldState:
    """The committed world state served from SQLite, with a bounded LRU cache in front.

    Memory stays flat however large the state grows. Reads see committed blocks only: while a
    block is being written (`pin` .. `apply`), the keys it changes are answered from their
    pre-block entries, so a simulation never sees a block the event loop has not yet applied,
    whichever SQLite snapshot it happens to read. Misses are checked against the key history
    by `LedgerStore.state_entry` (a flipped world-state byte raises LedgerIntegrityError).
    Used from the event loop only."""

    def __init__(self, source: StateSource, *, max_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        self._source = source
        self.max_bytes = max_bytes
        self._cache: OrderedDict[str, tuple[bytes, Version] | None] = OrderedDict()
        self._bytes = 0
        self._pinned: dict[str, tuple[bytes, Version] | None] = {}
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return self._source.state_count()

    @property
    def cached_bytes(self) -> int:
        return self._bytes

    def get(self, key: str) -> tuple[bytes, Version] | None:
        if key in self._pinned:
            return self._pinned[key]
        entry = self._cache.get(key, _MISSING)
        if entry is not _MISSING:
            self._cache.move_to_end(key)
            self.hits += 1
            return entry  # type: ignore[return-value]
        self.misses += 1
        found = self._source.state_entry(key)
        self._remember(key, found)
        return found

    def version(self, key: str) -> Version | None:
        entry = self.get(key)
        return entry[1] if entry else None

    def range(
        self, start: str, end: str, *, end_inclusive: bool = False
    ) -> Iterator[tuple[str, bytes, Version]]:
        """Keys in [start, end) (or [start, end]) in order, read from SQLite in pages (not
        cached: a scan must not flush the point-read cache)."""

        def in_range(key: str) -> bool:
            if key < start:
                return False
            return not end or (key <= end if end_inclusive else key < end)

        pinned = sorted((k, e) for k, e in self._pinned.items() if e is not None and in_range(k))
        skip = set(self._pinned)
        stored = self._paged(start, end, end_inclusive, skip)
        yield from _merge(stored, iter(pinned))

    def _paged(
        self, start: str, end: str, end_inclusive: bool, skip: set[str]
    ) -> Iterator[tuple[str, bytes, Version]]:
        page_start = start
        while True:
            rows = self._source.state_range(
                page_start, end, end_inclusive=end_inclusive, limit=RANGE_PAGE
            )
            for key, value, version in rows:
                if key not in skip:
                    yield key, value, version
            if len(rows) < RANGE_PAGE:
                return
            page_start = rows[-1][0] + "\x00"

    def pin(self, keys: Iterable[str]) -> None:
        """Before a block's write starts: hold the current entries of the keys it changes."""
        self._pinned = {key: self.get(key) for key in keys}

    def apply_block(self, updates: dict[str, tuple[bytes | None, Version]]) -> None:
        """After the block is durable: cache its new entries and release the pins."""
        for key, (value, version) in updates.items():
            self._forget(key)
            self._remember(key, None if value is None else (value, version))
        self._pinned = {}

    def apply(self, key: str, value: bytes | None, version: Version) -> None:
        self.apply_block({key: (value, version)})

    def _remember(self, key: str, entry: tuple[bytes, Version] | None) -> None:
        self._forget(key)
        self._cache[key] = entry
        self._bytes += _size(key, entry)
        while self._bytes > self.max_bytes and self._cache:
            old_key, old = self._cache.popitem(last=False)
            self._bytes -= _size(old_key, old)

    def _forget(self, key: str) -> None:
        old = self._cache.pop(key, _MISSING)
        if old is not _MISSING:
            self._bytes -= _size(key, old)  # type: ignore[arg-type]

    def __contains__(self, key: str) -> bool:
        return key in self._cache


def _size(key: str, entry: tuple[bytes, Version] | None) -> int:
    return ENTRY_OVERHEAD + len(key) + (len(entry[0]) if entry else 0)


def _merge(
    a: Iterator[tuple[str, bytes, Version]], b: Iterator[tuple[str, tuple[bytes, Version]]]
) -> Iterator[tuple[str, bytes, Version]]:
    """Merge stored rows with pinned entries (disjoint keys), in key order."""
    x = next(a, None)
    y = next(b, None)
    while x is not None or y is not None:
        if y is None or (x is not None and x[0] < y[0]):
            assert x is not None
            yield x
            x = next(a, None)
        else:
            yield y[0], y[1][0], y[1][1]
            y = next(b, None)
