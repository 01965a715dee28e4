"""Who is owed what in one PSI run, and what an engine hands back."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PsiRoles:
    """This party's view of one two-party PSI run: sizes and the outputs each side is owed."""

    me: str
    peer: str
    n_mine: int
    n_peer: int
    gets_intersection: bool = False
    gets_cardinality: bool = False
    peer_gets_intersection: bool = False
    peer_gets_cardinality: bool = False


@dataclass
class PsiOutcome:
    """What one engine run gave this party.

    `matched`: indices (ascending) into this party's unique-digest array of the ids in the
    intersection — set only for an intersection recipient. `cardinality`: set for a recipient of
    either output. Both None for a party owed nothing.
    """

    matched: np.ndarray | None = None
    cardinality: int | None = None
