"""Where an event listener got to: a block number and the last transaction id processed.

Fabric-gateway's checkpointer rule: after processing an event, `checkpoint_event(event)` records
(its block, its tx id); the next `chaincode_events(..., checkpoint=cp)` starts at that block and
skips events up to and including that transaction, so nothing is missed or seen twice.
`FileCheckpoint` keeps this in a JSON file, replaced atomically (write, fsync, rename).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Protocol

from network.errors import CheckpointError
from network.gateway.events import ChaincodeEvent


class Checkpoint(Protocol):
    @property
    def block_number(self) -> int | None:
        """Block in which the next event is expected (None: start at the next commit)."""
        ...

    @property
    def tx_id(self) -> str:
        """Last transaction processed in that block ("" if none)."""
        ...


class InMemoryCheckpoint:
    def __init__(self, block_number: int | None = None, tx_id: str = "") -> None:
        self._block: int | None = block_number
        self._tx_id = tx_id

    @property
    def block_number(self) -> int | None:
        return self._block

    @property
    def tx_id(self) -> str:
        return self._tx_id

    def checkpoint_block(self, block_number: int) -> None:
        """Every event of `block_number` is processed: resume at the next block."""
        self._set(block_number + 1, "")

    def checkpoint_transaction(self, block_number: int, tx_id: str) -> None:
        self._set(block_number, tx_id)

    def checkpoint_event(self, event: ChaincodeEvent) -> None:
        self.checkpoint_transaction(event.block_number, event.tx_id)

    def _set(self, block_number: int, tx_id: str) -> None:
        self._block, self._tx_id = block_number, tx_id


class FileCheckpoint(InMemoryCheckpoint):
    """A checkpoint persisted as {"block_number": n, "tx_id": "..."} in `path`."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        block, tx_id = None, ""
        if self.path.exists():
            try:
                data = json.loads(self.path.read_text())
                block = data.get("block_number")
                tx_id = str(data.get("tx_id", ""))
                if block is not None and (not isinstance(block, int) or block < 0):
                    raise ValueError(f"bad block_number {block!r}")
            except (OSError, ValueError, AttributeError) as exc:
                raise CheckpointError(
                    f"checkpoint file {self.path} is unreadable ({exc}); delete it to start over "
                    "from the next commit, or fix it"
                ) from exc
        super().__init__(block, tx_id)

    def _set(self, block_number: int, tx_id: str) -> None:
        data = json.dumps({"block_number": block_number, "tx_id": tx_id})
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "w") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
            dir_fd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError as exc:
            raise CheckpointError(f"cannot write checkpoint {self.path}: {exc}") from exc
        super()._set(block_number, tx_id)
