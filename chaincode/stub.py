"""The small Stub protocol the governance contract is written against.

Three things implement it: the dict-backed `MemoryStub` (unit tests), devnet's simulator (which
records read and write sets), and the Fabric shim (which forwards to a real peer). Keys are
strings; composite keys follow Fabric's encoding (U+0000 separators) so range scans behave alike.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

COMPOSITE_NS = "\x00"
MAX_UNICODE_RUNE = "\U0010ffff"


def create_composite_key(object_type: str, attributes: list[str]) -> str:
    """Fabric's composite key: U+0000 type U+0000 attr U+0000 attr U+0000 ..."""
    for part in [object_type, *attributes]:
        if "\x00" in part or MAX_UNICODE_RUNE in part:
            raise ValueError(f"composite key part {part!r} contains a reserved character")
    return COMPOSITE_NS + object_type + COMPOSITE_NS + "".join(a + COMPOSITE_NS for a in attributes)


def split_composite_key(key: str) -> tuple[str, list[str]]:
    parts = key.split(COMPOSITE_NS)
    # ["", type, a1, ..., an, ""]
    return parts[1], parts[2:-1]


def partial_key_range(object_type: str, attributes: list[str]) -> tuple[str, str]:
    """Start and end keys of a range scan over every composite key with this prefix."""
    start = create_composite_key(object_type, attributes)
    return start, start + MAX_UNICODE_RUNE


class Stub(Protocol):
    """What a transaction function may ask of the ledger while it runs."""

    def get_function_and_parameters(self) -> tuple[str, list[str]]: ...

    def get_tx_id(self) -> str: ...

    def get_channel_id(self) -> str: ...

    def get_tx_timestamp(self) -> int:
        """Seconds since the epoch, from the transaction's channel header (never the wall clock)."""
        ...

    def get_creator(self) -> tuple[str, bytes]:
        """(MSP id, PEM certificate) of the identity that signed the proposal."""
        ...

    def get_state(self, key: str) -> bytes | None: ...

    def put_state(self, key: str, value: bytes) -> None: ...

    def del_state(self, key: str) -> None: ...

    def get_state_by_range(self, start_key: str, end_key: str) -> Iterator[tuple[str, bytes]]:
        """Keys in [start_key, end_key) in sorted order, as Fabric's GetStateByRange."""
        ...

    def get_history_for_key(self, key: str) -> Iterator[dict]:
        """Committed history of `key`, newest first.

        Each item is a dict with tx_id, timestamp, value and is_delete.
        """
        ...

    def set_event(self, name: str, payload: bytes) -> None:
        """Attach the transaction's one chaincode event (Fabric keeps only the last one set)."""
        ...
