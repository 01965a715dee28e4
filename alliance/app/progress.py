"""Progress reports from long use cases (fingerprinting, network up, job wait) to a front end.

A use case calls `progress(Progress(...))` as it goes; the CLI draws it with rich, the TUI with
its own widgets. Nothing in the layer prints. To cancel, the callback raises
`alliance.app.errors.Cancelled`: the use case stops where it is (before any ledger write for a
dataset being fingerprinted).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Progress:
    task: str
    """What is going on, in words: "fingerprinting customers.csv", "starting devnet"."""
    done: float = 0
    total: float | None = None
    """None when the amount is not known in advance."""
    finished: bool = False


ProgressFn = Callable[[Progress], None]


def no_progress(_: Progress) -> None:
    """The default: nobody is watching."""
