"""Forming an epoch part by part: the parts reassembled from a peer's chunks, the bit columns
and digest equal to the whole table's, the masks and member shares of one part equal to the
whole one's rows, and the low-priority producer."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator

import numpy as np
import pytest

from node.query import epoch_parts, masks, table
from node.query.epoch_parts import TableBuilder, at_low_priority, chunks_of, parts_of
from node.query.errors import ProtocolError
from node.query.layout import Layout
from node.query.record import LANES

LAYOUT = Layout(12, ("a", "b", "c", "d", "e"))  # 15 parts of 4,096 slots


def _random_table(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 2**63, (LAYOUT.slots, LANES), dtype=np.uint64)


def _parts(records: np.ndarray) -> list[np.ndarray]:
    rows = LAYOUT.part_slots
    return [records[p * rows:(p + 1) * rows].copy() for p in range(LAYOUT.subtables)]


def test_parts_built_one_by_one_equal_the_whole_tables_columns_and_digest() -> None:
    mine, theirs = _random_table(1), _random_table(2)
    whole = mine ^ theirs
    built = TableBuilder(LAYOUT)
    for part, (a, b) in enumerate(zip(_parts(mine), _parts(theirs), strict=True)):
        built.add(part, a, b)
    cols, digest = built.finish()
    assert np.array_equal(cols, table.transpose(whole, LAYOUT))
    assert digest == table.digest(whole)


def test_a_part_out_of_order_is_refused() -> None:
    built = TableBuilder(LAYOUT)
    part = np.zeros((LAYOUT.part_slots, LANES), dtype=np.uint64)
    with pytest.raises(ProtocolError, match="before part 0"):
        built.add(1, part, part.copy())


def test_a_table_missing_parts_is_not_finished() -> None:
    with pytest.raises(ProtocolError, match="15 parts, 0 were formed"):
        TableBuilder(LAYOUT).finish()


def _stream(records: np.ndarray, chunk: int) -> Iterator[bytes]:
    raw = records.tobytes()
    for start in range(0, len(raw), chunk):
        yield raw[start:start + chunk]


@pytest.mark.parametrize("chunk", [LAYOUT.part_slots * 16, LAYOUT.part_slots * 4])
def test_chunks_are_reassembled_into_parts(chunk: int) -> None:
    records = _random_table(3)
    got = list(parts_of(_stream(records, chunk), LAYOUT))
    assert all(np.array_equal(a, b) for a, b in zip(got, _parts(records), strict=True))


def test_chunks_of_a_part_cut_at_the_chunk_size() -> None:
    part = np.zeros((1 << 20, LANES), dtype=np.uint64)  # 16 MiB
    sizes = [len(c) for c in chunks_of(part)]
    assert sizes == [epoch_parts.CHUNK_BYTES] * 4


def test_a_short_stream_is_refused() -> None:
    records = _random_table(4)
    chunks = list(_stream(records, LAYOUT.part_slots * 16))
    chunks[-1] = chunks[-1][:-16]
    with pytest.raises(ProtocolError, match="ended 16 bytes into a part"):
        list(parts_of(iter(chunks), LAYOUT))


def test_a_stream_longer_than_the_table_is_refused() -> None:
    records = _random_table(5)
    with pytest.raises(ProtocolError, match="longer than the table"):
        list(parts_of(iter([*_stream(records, 65536), b"\x00" * 16]), LAYOUT))


def test_a_chunk_across_two_parts_is_refused() -> None:
    records = _random_table(6)
    with pytest.raises(ProtocolError, match="does not split into parts"):
        list(parts_of(_stream(records, LAYOUT.part_slots * 16 + 16), LAYOUT))


def test_one_parts_masks_are_the_whole_tables_rows() -> None:
    key, points = masks.new_epoch_key(), masks.block_points(LAYOUT.part_blocks)
    whole = masks.server_masks(key, points, LAYOUT.subtables)
    seeds = masks.block_seeds(key, points)
    rows = LAYOUT.part_slots
    for part in (0, 7, 14):
        assert np.array_equal(masks.part_masks(seeds, part), whole[part * rows:(part + 1) * rows])


def test_a_member_share_from_a_slot_on_is_the_whole_shares_rows() -> None:
    seed = os.urandom(16)
    whole = masks.prg_share(seed, LAYOUT.slots)
    assert np.array_equal(masks.prg_share(seed, 4096, 8192), whole[8192:12288])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice is Linux's")
def test_parts_are_produced_on_a_low_priority_thread() -> None:
    def nices() -> Iterator[int]:
        for _ in range(3):
            yield os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    mine = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    assert list(at_low_priority(nices(), 19)) == [max(mine, 19)] * 3


def test_the_producers_error_reaches_the_consumer() -> None:
    def failing() -> Iterator[bytes]:
        yield b"one"
        raise KeyError("bank")

    got = []
    with pytest.raises(KeyError, match="bank"):
        for item in at_low_priority(failing(), 19):
            got.append(item)
    assert got == [b"one"]


def test_a_consumer_that_stops_early_stops_the_producer() -> None:
    def endless() -> Iterator[bytes]:
        while True:
            yield b"x"

    before = set(threading.enumerate())
    stream = at_low_priority(endless(), 19, depth=2)
    assert next(stream) == b"x"
    (producer,) = [t for t in threading.enumerate()
                   if t not in before and t.name == "query-epoch-parts"]
    stream.close()
    producer.join(10)
    assert not producer.is_alive()
