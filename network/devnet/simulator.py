"""A transaction simulation: the Stub the contract runs against inside devnet.

Reads see committed state only (as in Fabric, not this transaction's own writes) and are recorded
with the version they saw; range scans record what they returned and whether they ran to the end
(for the phantom check); writes and deletes are buffered into the write set. Nothing touches the
ledger until the transaction is ordered and validated.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from network.devnet.world_state import CommittedState
from network.protoutil import RangeRead, ReadWriteSet, UnpackedProposal, Version

HistoryReader = Callable[[str], list[dict]]


class SimulationError(Exception):
    """The contract asked for something the ledger cannot do (bad key, non-UTF-8 argument)."""


@dataclass
class _Scan:
    start: str
    end: str
    reads: list[tuple[str, Version | None]] = field(default_factory=list)
    exhausted: bool = False


class Simulation:
    """Implements `chaincode.stub.Stub` for one proposal and collects its read-write set."""

    def __init__(
        self,
        proposal: UnpackedProposal,
        state: CommittedState,
        history: HistoryReader,
        creator: tuple[str, bytes],
    ) -> None:
        self._proposal = proposal
        self._state = state
        self._history = history
        self._creator = creator
        self._reads: dict[str, Version | None] = {}
        self._writes: dict[str, bytes | None] = {}
        self._scans: list[_Scan] = []
        self.event: tuple[str, bytes] | None = None
        try:
            self._args = [a.decode() for a in proposal.args]
        except UnicodeDecodeError as exc:
            raise SimulationError("transaction arguments must be UTF-8 strings") from exc

    # -- Stub -----------------------------------------------------------------------------------

    def get_function_and_parameters(self) -> tuple[str, list[str]]:
        return self._proposal.function, list(self._args)

    def get_tx_id(self) -> str:
        return self._proposal.tx_id

    def get_channel_id(self) -> str:
        return self._proposal.channel_id

    def get_tx_timestamp(self) -> int:
        return self._proposal.timestamp

    def get_creator(self) -> tuple[str, bytes]:
        return self._creator

    def get_state(self, key: str) -> bytes | None:
        _check_key(key)
        entry = self._state.get(key)
        if key not in self._reads:
            self._reads[key] = entry[1] if entry else None
        return entry[0] if entry else None

    def put_state(self, key: str, value: bytes) -> None:
        _check_key(key)
        if not isinstance(value, bytes | bytearray):
            raise SimulationError(f"value for key {key!r} must be bytes")
        self._writes[key] = bytes(value)

    def del_state(self, key: str) -> None:
        _check_key(key)
        self._writes[key] = None

    def get_state_by_range(self, start_key: str, end_key: str) -> Iterator[tuple[str, bytes]]:
        scan = _Scan(start_key, end_key)
        self._scans.append(scan)
        return self._scan(scan)

    def _scan(self, scan: _Scan) -> Iterator[tuple[str, bytes]]:
        for key, value, version in self._state.range(scan.start, scan.end):
            scan.reads.append((key, version))
            yield key, value
        scan.exhausted = True

    def get_history_for_key(self, key: str) -> Iterator[dict]:
        _check_key(key)
        return iter(self._history(key))

    def set_event(self, name: str, payload: bytes) -> None:
        if not name:
            raise SimulationError("a chaincode event needs a name")
        self.event = (name, bytes(payload))

    # -- results --------------------------------------------------------------------------------

    def read_write_set(self, namespace: str) -> ReadWriteSet:
        return ReadWriteSet(
            namespace=namespace,
            reads=dict(self._reads),
            range_reads=[
                RangeRead(s.start, s.end, s.exhausted, tuple(s.reads)) for s in self._scans
            ],
            writes=dict(self._writes),
        )


def _check_key(key: str) -> None:
    if not isinstance(key, str) or not key:
        raise SimulationError("a ledger key must be a non-empty string")
