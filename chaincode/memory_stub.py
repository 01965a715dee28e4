"""A dict-backed ledger that implements the Stub, for unit tests and tools that need no peer.

It follows Fabric's rules where a contract could notice: reads and range scans see committed
state only (not this transaction's own writes), scans are sorted, history is newest first, only
the last event set survives, and nothing of a transaction is applied unless it succeeded.

    stub = MemoryStub()
    response = stub.invoke(router, "RegisterDataset", spec_json, creator=bank_admin)
    stub.query(router, "GetDataset", "bank/customers", creator=regulator)
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from alliance.identity import Identity

if TYPE_CHECKING:
    from chaincode.router import Response, Router

DEFAULT_START_TIME = 1_700_000_000


@dataclass(frozen=True)
class HistoryEntry:
    tx_id: str
    timestamp: int
    value: bytes
    is_delete: bool


@dataclass(frozen=True)
class CommittedEvent:
    tx_id: str
    name: str
    payload: bytes


@dataclass
class _Tx:
    function: str
    args: list[str]
    tx_id: str
    timestamp: int
    creator: tuple[str, bytes]
    writes: dict[str, bytes | None]
    event: tuple[str, bytes] | None = None


class MemoryStub:
    """World state, key history and events in dicts; one transaction at a time."""

    def __init__(self, channel_id: str = "alliance", start_time: int = DEFAULT_START_TIME) -> None:
        self.channel_id = channel_id
        self.state: dict[str, bytes] = {}
        self.key_history: dict[str, list[HistoryEntry]] = {}
        self.events: list[CommittedEvent] = []
        self.tx_count = 0
        self.clock = start_time
        """Timestamp given to the next transaction that names none; advances by one per tx."""
        self._tx: _Tx | None = None

    # --- harness -----------------------------------------------------------------------------

    def invoke(
        self,
        router: Router,
        function: str,
        *args: str,
        creator: Identity | tuple[str, bytes],
        tx_id: str | None = None,
        timestamp: int | None = None,
    ) -> Response:
        """Run one transaction; apply its writes and event only when it answers 200."""
        response = self._run(router, function, list(args), creator, tx_id, timestamp)
        tx = self._tx
        assert tx is not None
        self._tx = None
        if response.ok:
            self._commit(tx)
        return response

    def query(
        self,
        router: Router,
        function: str,
        *args: str,
        creator: Identity | tuple[str, bytes],
        timestamp: int | None = None,
    ) -> Response:
        """Evaluate a transaction without committing anything (like Gateway Evaluate)."""
        response = self._run(router, function, list(args), creator, None, timestamp)
        self._tx = None
        return response

    def last_event(self) -> CommittedEvent | None:
        return self.events[-1] if self.events else None

    def state_bytes(self) -> bytes:
        """The whole world state as one byte string (for determinism checks)."""
        return b"".join(
            len(k.encode()).to_bytes(4, "big") + k.encode() + len(v).to_bytes(4, "big") + v
            for k, v in sorted(self.state.items())
        )

    def _run(
        self,
        router: Router,
        function: str,
        args: list[str],
        creator: Identity | tuple[str, bytes],
        tx_id: str | None,
        timestamp: int | None,
    ) -> Response:
        self.tx_count += 1
        if tx_id is None:
            tx_id = hashlib.sha256(f"memory-tx-{self.tx_count}".encode()).hexdigest()
        if timestamp is None:
            timestamp = self.clock
            self.clock += 1
        if isinstance(creator, Identity):
            creator = (creator.msp_id, creator.certificate)
        self._tx = _Tx(function, args, tx_id, timestamp, creator, {})
        return router.invoke(self)

    def _commit(self, tx: _Tx) -> None:
        for key, value in tx.writes.items():
            entry = HistoryEntry(tx.tx_id, tx.timestamp, value or b"", value is None)
            self.key_history.setdefault(key, []).append(entry)
            if value is None:
                self.state.pop(key, None)
            else:
                self.state[key] = value
        if tx.event is not None:
            self.events.append(CommittedEvent(tx.tx_id, *tx.event))

    def _current(self) -> _Tx:
        if self._tx is None:
            raise RuntimeError("no transaction is running; use MemoryStub.invoke or .query")
        return self._tx

    # --- the Stub protocol -------------------------------------------------------------------

    def get_function_and_parameters(self) -> tuple[str, list[str]]:
        tx = self._current()
        return tx.function, list(tx.args)

    def get_tx_id(self) -> str:
        return self._current().tx_id

    def get_channel_id(self) -> str:
        return self.channel_id

    def get_tx_timestamp(self) -> int:
        return self._current().timestamp

    def get_creator(self) -> tuple[str, bytes]:
        return self._current().creator

    def get_state(self, key: str) -> bytes | None:
        self._current()
        return self.state.get(key)

    def put_state(self, key: str, value: bytes) -> None:
        if not key:
            raise ValueError("empty key")
        if not value:
            raise ValueError(f"empty value for {key!r}: use del_state to delete")
        self._current().writes[key] = bytes(value)

    def del_state(self, key: str) -> None:
        self._current().writes[key] = None

    def get_state_by_range(self, start_key: str, end_key: str) -> Iterator[tuple[str, bytes]]:
        self._current()
        for key in sorted(self.state):
            if key >= start_key and (not end_key or key < end_key):
                yield key, self.state[key]

    def get_history_for_key(self, key: str) -> Iterator[dict[str, Any]]:
        self._current()
        for entry in reversed(self.key_history.get(key, [])):
            yield {
                "tx_id": entry.tx_id,
                "timestamp": entry.timestamp,
                "value": entry.value,
                "is_delete": entry.is_delete,
            }

    def set_event(self, name: str, payload: bytes) -> None:
        self._current().event = (name, bytes(payload))
