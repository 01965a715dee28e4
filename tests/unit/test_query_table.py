"""The bit-transposed table, the PIR answer and the block masks."""

from __future__ import annotations

import numpy as np
import pytest

from node.query import dpf, masks, table
from node.query.errors import ProtocolError
from node.query.layout import BLOCK_SLOTS, Layout
from node.query.record import SCANNED_BITS

_READ = np.zeros(128, dtype=np.uint8)
_READ[SCANNED_BITS] = 1
READ = np.packbits(_READ, bitorder="little").view(np.uint64)
"""The record bits a lookup reads, as a mask per lane (the spare bits 0)."""


@pytest.fixture
def layout() -> Layout:
    return Layout(12, ("bank", "telecom"))


def _keys(layout: Layout, positions: list[int]) -> tuple[list[dpf.DpfKey], list[dpf.DpfKey]]:
    pairs = [dpf.generate(dpf.point_for_position(p, layout.part_bits), layout.part_bits)
             for p in positions]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def test_bit_column_c_of_a_part_holds_the_cth_read_bit_of_each_of_its_slots(
        layout: Layout) -> None:
    records = np.random.default_rng(5).integers(0, 2**64, (layout.slots, 2), dtype=np.uint64)
    cols = table.transpose(records, layout)
    assert cols.shape == (layout.subtables, 84, layout.part_slots // 64)
    bits = np.unpackbits(records.view(np.uint8), bitorder="little").reshape(
        layout.subtables, layout.part_slots, 128)
    from_cols = np.unpackbits(cols.view(np.uint8), bitorder="little").reshape(
        layout.subtables, 84, layout.part_slots)
    assert np.array_equal(from_cols, bits.transpose(0, 2, 1)[:, SCANNED_BITS])


def test_the_spare_bits_are_the_only_ones_not_read() -> None:
    assert [int(b) for b in np.flatnonzero(_READ == 0)] == [*range(0, 14), *range(64, 94)]


def test_answers_of_both_servers_xor_to_the_selected_records(layout: Layout) -> None:
    rng = np.random.default_rng(3)
    records = rng.integers(0, 2**63, (layout.slots, 2), dtype=np.uint64)
    cols = table.transpose(records, layout)
    lookups = [list(rng.integers(0, layout.part_slots, layout.subtables)) for _ in range(5)]
    sel0, sel1 = [], []
    for positions in lookups:
        k0, k1 = _keys(layout, [int(p) for p in positions])
        sel0.append(dpf.evaluate_full(k0))
        sel1.append(dpf.evaluate_full(k1))
    got = table.answer(cols, np.stack(sel0)) ^ table.answer(cols, np.stack(sel1))
    for i, positions in enumerate(lookups):
        for part, p in enumerate(positions):
            assert np.array_equal(got[i, part], records[part * layout.part_slots + p] & READ)
    one = table.answer(cols, np.stack(sel0)[:1]) ^ table.answer(cols, np.stack(sel1)[:1])
    assert np.array_equal(one[0], got[0])


def test_answer_refuses_selections_of_the_wrong_shape(layout: Layout) -> None:
    cols = table.transpose(np.zeros((layout.slots, 2), dtype=np.uint64), layout)
    with pytest.raises(ProtocolError, match="shape"):
        table.answer(cols, np.zeros((1, layout.subtables, 3), dtype=np.uint64))
    words = layout.part_slots // 64
    with pytest.raises(ProtocolError, match="dividing"):  # 4 selections for 6 parts
        table.answer(cols, np.zeros((1, 4, words), dtype=np.uint64))


@pytest.mark.parametrize("count", [1, 2, 5])
def test_one_segments_selections_answer_as_if_repeated_over_every_segment(
        layout: Layout, count: int) -> None:
    rng = np.random.default_rng(count)
    cols = table.transpose(rng.integers(0, 2**63, (layout.slots, 2), dtype=np.uint64), layout)
    words = layout.part_slots // 64
    segment = rng.integers(0, 2**63, (count, 3, words), dtype=np.uint64)
    repeated = np.tile(segment, (1, layout.segments, 1))
    assert np.array_equal(table.answer(cols, segment), table.answer(cols, repeated))


def test_the_asker_obtains_exactly_the_servers_masks_of_its_slots(layout: Layout) -> None:
    """One block evaluation gives the masks of the applicant's slot in every part."""
    points = masks.block_points(layout.part_blocks)
    key = masks.new_epoch_key()
    mask = masks.server_masks(key, points, layout.subtables)
    rng = np.random.default_rng(1)
    for block in (0, 1, layout.part_blocks - 1):
        offsets = [int(o) for o in rng.integers(0, BLOCK_SLOTS, layout.subtables)]
        blinding = masks.blind(points[block])
        got = masks.slot_masks(blinding.unblinder, masks.evaluate(key, blinding.element),
                               offsets)
        for part, offset in enumerate(offsets):
            slot = part * layout.part_slots + block * BLOCK_SLOTS + offset
            assert np.array_equal(got[part], mask[slot])


def test_one_blinding_answered_by_both_servers_gives_the_sum_of_their_masks(
        layout: Layout) -> None:
    points = masks.block_points(layout.part_blocks)
    keys = (masks.new_epoch_key(), masks.new_epoch_key())
    mask_a, mask_b = (masks.server_masks(k, points, layout.subtables) for k in keys)
    offsets = [5] * layout.subtables
    blinding = masks.blind(points[3])
    got = masks.slot_masks_of_both(blinding.unblinder,
                                   [masks.evaluate(k, blinding.element) for k in keys], offsets)
    slots = [part * layout.part_slots + 3 * BLOCK_SLOTS + 5 for part in range(layout.subtables)]
    assert np.array_equal(got, mask_a[slots] ^ mask_b[slots])


def test_masks_are_fresh_per_epoch_key(layout: Layout) -> None:
    points = masks.block_points(4)
    a = masks.server_masks(masks.new_epoch_key(), points, 2)
    b = masks.server_masks(masks.new_epoch_key(), points, 2)
    assert not np.any(a == b)


def test_a_blinded_point_is_independent_of_its_block() -> None:
    """Two blindings of the same block differ; the server sees a fresh random element."""
    point = masks.block_point(7)
    assert masks.blind(point).element != masks.blind(point).element


def test_blinding_scalars_are_the_clamped_representatives_of_plus_or_minus_r() -> None:
    """X25519 takes clamped scalars only; r and r^-1 are sent as the clamped integer congruent
    to +r or -r mod L, which multiplies to the same u-coordinate as r on edwards25519."""
    rng = np.random.default_rng(3)
    point = masks.edwards_block_point(1)
    for _ in range(100):
        r = int.from_bytes(rng.bytes(64), "little") % masks.ORDER
        scalar = masks._ladder_scalar(r)
        assert scalar is not None
        value = int.from_bytes(scalar, "little")
        assert value % 8 == 0 and 1 << 254 <= value < 1 << 255
        assert value % masks.ORDER in (r, masks.ORDER - r)
        on_edwards = masks.sodium.crypto_scalarmult_ed25519_noclamp(r.to_bytes(32, "little"),
                                                                    point)
        assert masks.sodium.crypto_scalarmult(scalar, masks.block_point(1)) == \
            masks.sodium.crypto_sign_ed25519_pk_to_curve25519(on_edwards)


def test_an_epoch_key_clears_a_torsion_part_so_the_asker_learns_nothing_of_it() -> None:
    """B + T for T = (0, -1), of order 2: a key that is a multiple of 8 answers exactly as
    for B (an edwards25519 key would have shown the asker k mod 2); u = 0, the point of
    order 2 itself, is refused."""
    key = masks.new_epoch_key()
    point = masks.edwards_block_point(7)
    torsion = masks.sodium.crypto_core_ed25519_add(point, bytes.fromhex("ec" + "ff" * 30 + "7f"))
    plain = masks.sodium.crypto_sign_ed25519_pk_to_curve25519(point)
    assert _u_of(point) == plain and _u_of(torsion) != plain
    assert masks.evaluate(key, _u_of(torsion)) == masks.evaluate(key, plain)
    with pytest.raises(ProtocolError, match="small order"):
        masks.evaluate(key, bytes(32))


def _u_of(edwards: bytes) -> bytes:
    """The Montgomery u-coordinate (1 + y) / (1 - y) of any edwards25519 point, torsion
    included (libsodium's conversion refuses points outside the prime-order subgroup)."""
    p = 2**255 - 19
    y = int.from_bytes(edwards, "little") & ((1 << 255) - 1)
    return ((1 + y) * pow(1 - y, -1, p) % p).to_bytes(32, "little")


def test_a_blinded_point_is_a_valid_group_element_a_server_accepts() -> None:
    blinding = masks.blind(masks.block_point(7))
    assert masks.evaluate(masks.new_epoch_key(), blinding.element)


def test_the_asker_refuses_an_answer_that_is_no_point() -> None:
    unblinder = masks.blind(masks.block_point(7)).unblinder
    with pytest.raises(ProtocolError, match="invalid group element"):
        masks.slot_masks(unblinder, b"\x01" * 31, [0])
    with pytest.raises(ProtocolError, match="invalid group element"):
        masks.slot_masks(unblinder, bytes(32), [0])  # u = 0: of small order


def test_the_server_refuses_a_point_of_small_order_or_the_wrong_size() -> None:
    key = masks.new_epoch_key()
    with pytest.raises(ProtocolError, match="valid"):
        masks.evaluate(key, bytes(32))
    with pytest.raises(ProtocolError, match="valid"):
        masks.evaluate(key, b"\x01" * 31)


@pytest.mark.parametrize(("count", "last"), [(1, 1), (4, 4), (8, 8), (9, 5), (12, 4), (15, 7),
                                             (16, 4), (32, 4)])
def test_the_wide_plan_sweeps_a_batch_whole_up_to_8_then_by_4_with_the_rest_in_the_last(
        count: int, last: int) -> None:
    assert table.last_sweep(count, table.WIDE) == last


@pytest.mark.parametrize(("count", "last"), [(1, 1), (3, 3), (5, 5), (6, 3), (7, 4), (8, 5),
                                             (9, 3), (32, 5)])
def test_the_narrow_plan_sweeps_a_batch_whole_up_to_5_then_by_3_with_the_rest_in_the_last(
        count: int, last: int) -> None:
    assert table.last_sweep(count, table.NARROW) == last


@pytest.mark.parametrize(("features", "plan"), [
    ("+64bit,+avx,+avx2,-avx512f,+sse2", "NARROW"),
    ("+64bit,+avx,+avx2,+avx512f,+avx512bw", "WIDE"),
    ("+neon,+fp-armv8", "NARROW"),
])
def test_the_plan_takes_8_word_vectors_only_where_the_target_has_avx512(
        features: str, plan: str) -> None:
    assert table.plan_for(features) is getattr(table, plan)


def test_accumulators_sweeps_and_a_scratch_vector_fit_the_registers_of_each_plan() -> None:
    """4 x body accumulators, body selections and one scratch vector: within 32 AVX-512
    registers of 8 words, and 16 AVX2 registers of 4 (their accumulators spilled to the
    stack with the wide plan there, bench/README.md)."""
    for plan, registers in ((table.WIDE, 32), (table.NARROW, 16)):
        assert 4 * plan.body + plan.body + 1 <= registers
        assert plan.body <= plan.most <= 8


@pytest.mark.parametrize("block", [8, 12, 4096])
@pytest.mark.parametrize("count", [1, 2, 3, 4, 5, 6, 7, 8, 9, 13, 17])
def test_answer_is_the_xor_of_the_records_each_selection_picks(
        layout: Layout, count: int, block: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """The fused kernel against the plaintext definition, for any selection bits and batch size
    (sweeps of 1 to 8 lookups take different register blocks; 6 to 17 take several sweeps
    with either plan), whether a part's columns fit one block of words or span several (8
    blocks of 8 words, or 12: a block that is no whole number of 8-word vectors)."""
    monkeypatch.setattr(table, "_BLOCK_WORDS", block)
    rng = np.random.default_rng(count)
    records = rng.integers(0, 2**63, (layout.slots, 2), dtype=np.uint64)
    cols = table.transpose(records, layout)
    words = layout.part_slots // 64
    selections = rng.integers(0, 2**63, (count, layout.subtables, words), dtype=np.uint64)
    got = table.answer(cols, selections)
    for lookup in range(count):
        for part in range(layout.subtables):
            picked = np.unpackbits(selections[lookup, part].view(np.uint8), bitorder="little")
            rows = records[part * layout.part_slots:(part + 1) * layout.part_slots]
            want = np.bitwise_xor.reduce(rows[picked.astype(bool)], axis=0)
            assert np.array_equal(got[lookup, part], want & READ)
