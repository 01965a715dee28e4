"""The tables a query server holds, and its half of forming the next one with the other server.

An epoch is one masked table D = T XOR R_A XOR R_B (masks.py says why masks), formed by the two
servers together: A, the lead, picks for every member the newest contribution version both hold
and streams its masked share T_A XOR R_A part by part; B answers each part with T_B XOR R_B; each
adds the two into D's bit columns as they arrive (epoch_parts.py). A server keeps the newest
KEEP_EPOCHS, so lookups in flight across a rollover still find theirs.

`Tables` is that state and arithmetic, apart from the network: the server (server.py) checks who
calls, carries the streams over gRPC and turns failures into refusals.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from typing import Protocol, TypeVar

import numpy as np

from node.query import epoch_parts, masks, relay
from node.query.errors import ProtocolError, QueryError
from node.query.layout import CHOICES, Layout
from node.query.record import LANES
from node.query.store import ServerStore
from node.query.wire import encode

log = logging.getLogger("node.query.epochs")

KEEP_EPOCHS = 2
EPOCH_NICE = 19
"""The nice value of the threads that form an epoch (lookups keep the process's own)."""
T = TypeVar("T")


@dataclass
class Epoch:
    """One formed table: D's bit columns, this server's OPRF key for its masks, the pair key
    both servers seal halves with, and the contribution versions it holds."""

    number: int
    key: bytes
    cols: np.ndarray
    digest: str
    versions: dict[str, int]
    pair_key: bytes
    formed_in: float = 0.0


class Replies(Protocol):
    """The other server's answer to the lead's stream (a gRPC call): its parts, cancellable."""

    def __iter__(self) -> Iterator[bytes]: ...

    def cancel(self) -> bool: ...


def at_low_priority(work: Callable[[], T]) -> T:
    """Run `work` on a thread of its own at the lowest CPU priority and wait for it: forming
    an epoch (a table's worth of arithmetic) must not delay the lookups answered meanwhile
    (Linux gives each thread its own nice value; elsewhere it runs at the normal priority)."""
    return epoch_parts.run_at_low_priority(work, EPOCH_NICE)


def common_versions(mine: dict[str, list[int]], theirs: dict[str, list[int]]
                    ) -> dict[str, int]:
    """For every member both servers hold contributions of: the newest version both hold."""
    versions = {}
    for member in sorted(set(mine) & set(theirs)):
        common = set(mine[member]) & set(theirs[member])
        if common:
            versions[member] = max(common)
    return versions


class Tables:
    """One server's epochs (the newest KEEP_EPOCHS)."""

    def __init__(self, name: str, layout: Layout, store: ServerStore) -> None:
        self.name, self.layout, self.store = name, layout, store
        self._points = masks.block_points(layout.part_blocks)
        self._epochs: dict[int, Epoch] = {}
        self._lock = threading.Lock()

    def adopt(self, layout: Layout) -> bool:
        """Hold tables of `layout` from now on: every epoch of the old one is dropped. False
        when it is the layout held already."""
        with self._lock:
            if layout == self.layout:
                return False
            self.layout = layout
            self._points = masks.block_points(layout.part_blocks)
            self._epochs.clear()
        return True

    def numbers(self) -> list[int]:
        with self._lock:
            return sorted(self._epochs)

    def get(self, number: int) -> Epoch | None:
        with self._lock:
            return self._epochs.get(number)

    def held(self) -> list[Epoch]:
        """The epochs held, oldest first."""
        with self._lock:
            return sorted(self._epochs.values(), key=lambda e: e.number)

    def current(self) -> Epoch | None:
        with self._lock:
            return self._epochs[max(self._epochs)] if self._epochs else None

    # ---- the share T_j -----------------------------------------------------------------------

    def contribution(self, member: str, version: int, part: int) -> np.ndarray:
        """One part (0 .. CHOICES - 1) of a stored contribution: this server's share of that
        part of the member's segment."""
        rows = self.layout.part_slots
        start, count = part * rows, rows
        seed, vector = self.store.load(member, version, start, count)
        if seed is not None:
            return masks.prg_share(seed, count, start)
        assert vector is not None
        return vector

    def own_parts(self, versions: dict[str, int]) -> Callable[[int], np.ndarray]:
        """part -> T_j's rows of that part of the table (not to be modified); KeyError naming
        a version this server does not hold. A part lies in one member's segment, so it is
        that member's stored contribution there, or zeros when the epoch holds nothing from
        it: loaded when asked for, nothing kept between epochs."""
        for member, version in versions.items():  # each is there before any part is sent
            self.store.load(member, version, 0, 0)
        layout = self.layout
        owners = {layout.segment_of(m): (m, v) for m, v in versions.items()
                  if m in layout.members}
        nothing = np.zeros((layout.part_slots, LANES), dtype=np.uint64)
        nothing.setflags(write=False)

        def part_of(part: int) -> np.ndarray:
            segment, inside = divmod(part, CHOICES)
            if segment not in owners:
                return nothing
            return self.contribution(*owners[segment], inside)

        return part_of

    def _masked_part(self, seeds: np.ndarray, own: Callable[[int], np.ndarray],
                     part: int) -> np.ndarray:
        """T_j XOR R_j over one part: what this server sends of it, and adds to the peer's."""
        share = masks.part_masks(seeds, part)
        return np.bitwise_xor(share, own(part), out=share)

    def _masked_chunks(self, seeds: np.ndarray, own: Callable[[int], np.ndarray]
                       ) -> Iterator[bytes]:
        for part in range(self.layout.subtables):
            yield from epoch_parts.chunks_of(self._masked_part(seeds, own, part))

    # ---- forming an epoch ----------------------------------------------------------------------

    def _make_room(self) -> None:
        """Before forming an epoch, keep only the newest one(s): with the one being formed the
        server then holds KEEP_EPOCHS tables, never KEEP_EPOCHS + 1."""
        with self._lock:
            for old in sorted(self._epochs)[:-(KEEP_EPOCHS - 1)]:
                del self._epochs[old]

    def _install(self, number: int, key: bytes, built: epoch_parts.TableBuilder,
                 versions: dict[str, int], started: float, pair_key: bytes) -> None:
        cols, digest = built.finish()
        epoch = Epoch(number, key, cols, digest, dict(versions), pair_key)
        epoch.formed_in = time.monotonic() - started
        with self._lock:
            if built.layout != self.layout:
                raise QueryError(f"epoch {number} was formed for a layout {self.name} no "
                                 "longer serves")
            self._epochs[number] = epoch
            for old in sorted(self._epochs)[:-KEEP_EPOCHS]:
                del self._epochs[old]
        log.info("%s installed epoch %d (%s)", self.name, number, epoch.digest)

    def lead(self, theirs: dict[str, list[int]], peer_epochs: Collection[int], proposed: int,
             exchange: Callable[[Iterator[bytes]], Replies], started: float) -> int:
        """The lead's side: the epoch formed from the newest versions both servers hold, its
        number (`proposed`, or the next after the newest held when that is higher).
        `exchange` sends this server's stream (a header, then its masked share part by part,
        computed on a low-priority thread a part or two ahead of the sending) and gives the
        peer's parts, each added as it arrives to the same part of this server's share
        (computed again: cheaper than keeping it). When the peer holds the newest epoch and
        no version changed, that epoch stays (a table formed again from the same
        contributions would differ only in its masks)."""
        versions = common_versions(self.store.versions(), theirs)
        current = self.current()
        if current is not None and current.versions == versions \
                and current.number in peer_epochs:
            return current.number
        number = max(proposed, max(self.numbers(), default=0) + 1)
        own = self.own_parts(versions)
        key, pair_key = masks.new_epoch_key(), relay.new_pair_key()
        seeds = masks.block_seeds(key, self._points)
        self._make_room()

        def outgoing() -> Iterator[bytes]:
            yield encode({"epoch": number, "versions": versions, "pair_key": pair_key.hex(),
                          "layout": self.layout.fingerprint()})
            yield from epoch_parts.at_low_priority(self._masked_chunks(seeds, own), EPOCH_NICE)

        built = epoch_parts.TableBuilder(self.layout)
        replies = exchange(outgoing())
        try:
            for part, peer_part in enumerate(epoch_parts.parts_of(iter(replies), self.layout)):
                built.add(part, self._masked_part(seeds, own, part), peer_part)
        except ProtocolError as exc:
            replies.cancel()
            raise QueryError(f"the peer's masked table: {exc}") from exc
        self._install(number, key, built, versions, started, pair_key)
        return number

    def follow(self, number: int, versions: dict[str, int], pair_key: bytes,
               own: Callable[[int], np.ndarray], parts: Iterator[bytes], started: float
               ) -> Iterator[bytes]:
        """The follower's side: the lead's masked share arrives part by part (`parts`); each
        is answered with this server's masked share of it once both are added into D. `own`
        is `own_parts(versions)`, got before the answer starts (a version missing is refused
        before anything is streamed)."""
        key = masks.new_epoch_key()
        self._make_room()

        def answer() -> Iterator[bytes]:
            seeds = masks.block_seeds(key, self._points)
            built = epoch_parts.TableBuilder(self.layout)
            for part, theirs in enumerate(epoch_parts.parts_of(parts, self.layout)):
                mine = self._masked_part(seeds, own, part)
                yield from epoch_parts.chunks_of(mine)
                built.add(part, mine, theirs)
            self._install(number, key, built, versions, started, pair_key)

        return answer()
