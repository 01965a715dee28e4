"""Forming an epoch part by part: the two servers swap their masked shares one part of the
table at a time, and each adds, transposes and hashes a part as soon as both halves are in.

At 2^25 slots a table is 512 MiB. Swapping whole shares held the own share, the masked share,
the peer's share, D and its bit columns at once (~3 GB per server beside the epoch being
served); part by part a server holds the new bit columns plus a few parts (4 MiB .. 32 MiB
each), so the 2 GB per server target holds at 2^20 applicants. Pure apart from threads.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import queue
import threading
from collections.abc import Callable, Iterator
from typing import TypeVar

import numpy as np

from node.query import table
from node.query.errors import ProtocolError
from node.query.layout import Layout
from node.query.record import LANES, RECORD_BYTES
from node.query.wire import CHUNK_BYTES

T = TypeVar("T")


def chunks_of(part: np.ndarray) -> Iterator[bytes]:
    raw = memoryview(np.ascontiguousarray(part)).cast("B")
    for start in range(0, len(raw), CHUNK_BYTES):
        yield bytes(raw[start:start + CHUNK_BYTES])


def parts_of(chunks: Iterator[bytes], layout: Layout) -> Iterator[np.ndarray]:
    """The peer's stream of chunks as `layout.subtables` parts (uint64, (part_slots, LANES));
    ProtocolError when the stream holds more or less than a table."""
    size = layout.part_slots * RECORD_BYTES
    for _ in range(layout.subtables):
        part = np.empty(size, dtype=np.uint8)
        filled = 0
        while filled < size:
            chunk = next(chunks, None)
            if chunk is None:
                raise ProtocolError(f"the peer's masked table ended {size - filled} bytes into "
                                    "a part")
            if filled + len(chunk) > size:
                raise ProtocolError("the peer's masked table does not split into parts")
            part[filled:filled + len(chunk)] = np.frombuffer(chunk, dtype=np.uint8)
            filled += len(chunk)
        yield part.view(np.uint64).reshape(-1, LANES)
    if next(chunks, None) is not None:
        raise ProtocolError("the peer's masked table is longer than the table")


class TableBuilder:
    """D's bit columns and digest, built from the parts in order: `add` each part's two masked
    shares, then `finish`."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.cols = np.empty((layout.subtables, table.COLUMNS, layout.part_words),
                             dtype=np.uint64)
        self._hash = hashlib.sha256()
        self._next = 0

    def add(self, part: int, mine: np.ndarray, theirs: np.ndarray) -> None:
        """D's part `part` = mine XOR theirs (`theirs` is overwritten)."""
        if part != self._next:
            raise ProtocolError(f"part {part} of the table arrived before part {self._next}")
        d = np.bitwise_xor(mine, theirs, out=theirs)
        table.transpose_part(d, self.cols, part)
        self._hash.update(memoryview(d).cast("B"))
        self._next += 1

    def finish(self) -> tuple[np.ndarray, str]:
        """(bit columns, digest): the digest is `table.digest` of the whole D."""
        if self._next != self.layout.subtables:
            raise ProtocolError(f"the table has {self.layout.subtables} parts, "
                                f"{self._next} were formed")
        table.warm_up()
        return self.cols, "sha256:" + self._hash.hexdigest()


_DONE = object()


def at_low_priority(items: Iterator[T], nice: int, depth: int = 2) -> Iterator[T]:
    """`items` computed on a thread of its own at `nice` (Linux: per thread), at most `depth`
    ahead of the consumer: the epoch's arithmetic must not delay the lookups answered
    meanwhile, while gRPC's thread that sends the stream keeps its priority. The producer's
    exception is raised in the consumer; a consumer that stops early stops the producer."""
    box: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                box.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def run() -> None:
        with contextlib.suppress(AttributeError, OSError):  # not Linux, or not allowed
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)
        try:
            for item in items:
                if not put(item):
                    return
            put(_DONE)
        except BaseException as exc:  # raised again in the consumer
            put(exc)

    thread = threading.Thread(target=run, name="query-epoch-parts", daemon=True)
    thread.start()
    try:
        while True:
            item = box.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        stop.set()


def run_at_low_priority(work: Callable[[], T], nice: int) -> T:
    """`work()` on a thread of its own at `nice`, waited for; its exception raised here."""
    (result,) = at_low_priority((work() for _ in range(1)), nice)
    return result
