"""Cuckoo placement of a member's own applicants: one candidate each, never two in a slot."""

from __future__ import annotations

import numpy as np
import pytest

from node.query import cuckoo
from node.query.errors import ContributionError
from node.query.layout import BLOCK_SLOTS, CHOICES, MAX_LOAD


def _candidates(rng: np.random.Generator, count: int, part_slots: int) -> np.ndarray:
    """Candidates as the layout draws them: one mask block, an offset per part."""
    blocks = rng.integers(0, part_slots // BLOCK_SLOTS, count) * BLOCK_SLOTS
    return blocks[:, None] + rng.integers(0, BLOCK_SLOTS, (count, CHOICES))


def _check(positions: np.ndarray, choices: np.ndarray, part_slots: int) -> None:
    assert choices.min() >= 0 and choices.max() < CHOICES
    cells = choices * part_slots + positions[np.arange(len(positions)), choices]
    assert len(np.unique(cells)) == len(positions)


@pytest.mark.parametrize("seed", range(8))
def test_every_applicant_gets_one_of_its_candidates_at_the_planned_load(seed: int) -> None:
    rng = np.random.default_rng(seed)
    part_slots = 1 << 12
    count = int(MAX_LOAD * CHOICES * part_slots)
    positions = _candidates(rng, count, part_slots)
    _check(positions, cuckoo.place(positions, part_slots), part_slots)


def test_placement_holds_well_beyond_the_planned_load() -> None:
    rng = np.random.default_rng(99)
    part_slots = 1 << 14
    positions = _candidates(rng, int(0.84 * CHOICES * part_slots), part_slots)
    _check(positions, cuckoo.place(positions, part_slots), part_slots)


def test_the_same_applicants_get_the_same_placement() -> None:
    positions = _candidates(np.random.default_rng(3), 2000, 1 << 10)
    assert np.array_equal(cuckoo.place(positions, 1 << 10), cuckoo.place(positions, 1 << 10))


def test_more_applicants_than_a_block_holds_are_refused() -> None:
    positions = np.zeros((CHOICES * 128 + 1, CHOICES), dtype=np.int64)
    positions += np.arange(CHOICES * 128 + 1)[:, None] % 128  # 3 x 128 slots for 385
    with pytest.raises(ContributionError, match="do not fit"):
        cuckoo.place(positions, 1 << 10)


def test_no_applicants_place_nothing() -> None:
    assert cuckoo.place(np.zeros((0, CHOICES), dtype=np.int64), 1 << 10).shape == (0,)


@pytest.mark.parametrize("positions", [np.zeros((4, 2)), np.full((1, CHOICES), 1 << 10),
                                       np.full((1, CHOICES), -1)])
def test_malformed_positions_raise(positions: np.ndarray) -> None:
    with pytest.raises(ValueError):
        cuckoo.place(positions, 1 << 10)
