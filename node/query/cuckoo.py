"""Cuckoo placement of one member's applicants in its own segment of the table (layout.py).

Each applicant has CHOICES candidate slots (one per part, all in one mask block of 3 x 1,024
slots); it must sit in exactly one, and no two applicants in the same slot. Insertion by random
walk: an applicant takes a free candidate, else evicts the occupant of a random candidate (not
the one it was just evicted from), which then does the same, up to MAX_KICKS moves. A block
holds ~0.8 x 3,072 = 2,458 applicants at the layout's MAX_LOAD, give or take 50, against the
~2,800 that 3-choice cuckoo fits in 3,072 slots: no build failed at 0.8 in 52 (of 2^20 and 2^22
applicants), the first failures came at 0.85 (2 of 12 at 2^22).
Pure (compiled with numba; the walk's randomness is a fixed seed: placement is not secret from
its member, and a placement that depends only on the input is easier to test).
"""

from __future__ import annotations

import numba
import numpy as np

from node.query.errors import ContributionError
from node.query.layout import CHOICES

MAX_KICKS = 1000


@numba.njit(cache=True, boundscheck=False)
def _walk(positions: np.ndarray, part_slots: int, seed: int) -> np.ndarray:
    """The chosen part of every item (0..CHOICES-1), or all -1 when an insertion fails."""
    np.random.seed(seed)
    owner = np.full(CHOICES * part_slots, -1, dtype=np.int64)
    where = np.full(positions.shape[0], -1, dtype=np.int64)
    for item in range(positions.shape[0]):
        current, avoid, placed = item, -1, False
        for _ in range(MAX_KICKS):
            for choice in range(CHOICES):
                cell = choice * part_slots + positions[current, choice]
                if owner[cell] < 0:
                    owner[cell] = current
                    where[current] = choice
                    placed = True
                    break
            if placed:
                break
            choice = np.random.randint(CHOICES)
            while choice == avoid:
                choice = np.random.randint(CHOICES)
            cell = choice * part_slots + positions[current, choice]
            evicted = owner[cell]
            owner[cell] = current
            where[current] = choice
            where[evicted] = -1
            current, avoid = evicted, choice
        if not placed:
            return np.full(positions.shape[0], -1, dtype=np.int64)
    return where


def place(positions: np.ndarray, part_slots: int) -> np.ndarray:
    """For applicants' candidate positions (int, shape (n, CHOICES), each < part_slots), the
    part each one takes (int64, (n,)), no two in the same slot. ContributionError when they do
    not fit (the service job's `part_bits` must grow)."""
    positions = np.ascontiguousarray(positions, dtype=np.int64)
    if positions.ndim != 2 or positions.shape[1] != CHOICES:
        raise ValueError(f"positions must have shape (n, {CHOICES})")
    if positions.size and (positions.min() < 0 or positions.max() >= part_slots):
        raise ValueError(f"a position lies outside a part of {part_slots} slots")
    if not len(positions):
        return np.zeros(0, dtype=np.int64)
    where = _walk(positions, part_slots, len(positions))
    if where[0] < 0:
        raise ContributionError(
            f"{len(positions):,} applicants do not fit a segment of {CHOICES} x {part_slots:,} "
            "slots; the multilender job needs a larger part_bits (propose a new job)")
    return where
