"""The ordering service: cut blocks by batch size or batch timeout, in arrival order.

Runs on the event loop; a cut batch goes to `deliver` (the committer's queue). Like Fabric's
solo/raft block cutter: a batch is cut when it reaches `batch_size` transactions, or
`batch_timeout` seconds after its first transaction arrived.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Orderer(Generic[T]):
    def __init__(
        self, batch_size: int, batch_timeout: float, deliver: Callable[[list[T]], None]
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch size must be at least 1")
        self.batch_size = batch_size
        self.batch_timeout = batch_timeout
        self._deliver = deliver
        self._pending: list[T] = []
        self._timer: asyncio.TimerHandle | None = None

    def __len__(self) -> int:
        return len(self._pending)

    def enqueue(self, tx: T) -> None:
        self._pending.append(tx)
        if len(self._pending) >= self.batch_size:
            self.cut()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.batch_timeout, self.cut)

    def cut(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._pending:
            batch, self._pending = self._pending, []
            self._deliver(batch)
