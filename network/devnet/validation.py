"""Validation of a block, as Fabric's committer does it (pure: no I/O).

Transactions are validated in block order: a transaction the committer's earlier checks refused
keeps their code (`network.devnet.txcheck`); a repeated tx id is DUPLICATE_TXID; a transaction whose
endorsements do not satisfy the endorsement policy is ENDORSEMENT_POLICY_FAILURE (the policy is
evaluated when it is submitted and carried here); then MVCC. A read is valid when the version it
saw is the version now committed, counting the writes of earlier valid transactions of the same
block; a range scan is valid when re-running it now returns the same keys at the same versions
(else PHANTOM_READ_CONFLICT). An invalid transaction's writes are never applied.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from network.protoutil import RangeRead, ReadWriteSet, TxValidationCode, Version

VALID = TxValidationCode.VALID
MVCC_READ_CONFLICT = TxValidationCode.MVCC_READ_CONFLICT
PHANTOM_READ_CONFLICT = TxValidationCode.PHANTOM_READ_CONFLICT
DUPLICATE_TXID = TxValidationCode.DUPLICATE_TXID
ENDORSEMENT_POLICY_FAILURE = TxValidationCode.ENDORSEMENT_POLICY_FAILURE


class CommittedVersions(Protocol):
    def version(self, key: str) -> Version | None: ...

    def range(
        self, start: str, end: str, *, end_inclusive: bool = False
    ) -> Iterable[tuple[str, bytes, Version]]: ...


@dataclass(frozen=True)
class Candidate:
    """What validation needs of one ordered transaction."""

    tx_id: str
    rwset: ReadWriteSet
    endorsed: bool = True
    """The endorsements satisfy the endorsement policy."""
    code: int = VALID
    """The code of the checks before this one (header, tx id, proposal hash, rwset), if failed."""


@dataclass(frozen=True)
class BlockOutcome:
    codes: list[int]
    """One validation code per transaction, in block order."""
    updates: dict[str, tuple[bytes | None, Version]]
    """Final value (None: deleted) and version of every key written by a valid transaction."""


def validate_block(
    block_number: int,
    txs: Sequence[Candidate],
    committed: CommittedVersions,
    already_committed: set[str] | frozenset[str] = frozenset(),
) -> BlockOutcome:
    updates: dict[str, tuple[bytes | None, Version]] = {}
    codes: list[int] = []
    seen: set[str] = set()
    for txnum, tx in enumerate(txs):
        if tx.code != VALID:
            codes.append(tx.code)
            continue
        if tx.tx_id in seen or tx.tx_id in already_committed:
            codes.append(DUPLICATE_TXID)
            continue
        seen.add(tx.tx_id)
        if not tx.endorsed:
            codes.append(ENDORSEMENT_POLICY_FAILURE)
            continue
        code = _validate_reads(tx.rwset, committed, updates)
        codes.append(code)
        if code == VALID:
            for key, value in tx.rwset.writes.items():
                updates[key] = (value, (block_number, txnum))
    return BlockOutcome(codes, updates)


def _current_version(
    key: str, committed: CommittedVersions, updates: dict[str, tuple[bytes | None, Version]]
) -> Version | None:
    if key in updates:
        value, version = updates[key]
        return None if value is None else version
    return committed.version(key)


def _validate_reads(
    rwset: ReadWriteSet,
    committed: CommittedVersions,
    updates: dict[str, tuple[bytes | None, Version]],
) -> int:
    for key, version in rwset.reads.items():
        if _current_version(key, committed, updates) != version:
            return MVCC_READ_CONFLICT
    for scan in rwset.range_reads:
        if list(_range_now(scan, committed, updates)) != list(scan.reads):
            return PHANTOM_READ_CONFLICT
    return VALID


def _range_now(
    scan: RangeRead,
    committed: CommittedVersions,
    updates: dict[str, tuple[bytes | None, Version]],
) -> Iterator[tuple[str, Version]]:
    """The scan re-run now, up to where the simulation stopped reading."""
    if scan.exhausted:
        end, inclusive = scan.end_key, False
    elif scan.reads:
        end, inclusive = scan.reads[-1][0], True
    else:
        return  # opened but never read: nothing was observed
    found: dict[str, Version] = {
        key: version
        for key, _, version in committed.range(scan.start_key, end, end_inclusive=inclusive)
    }
    for key, (value, version) in updates.items():
        if key < scan.start_key:
            continue
        if end and (key > end if inclusive else key >= end):
            continue
        if value is None:
            found.pop(key, None)
        else:
            found[key] = version
    for key in sorted(found):
        yield key, found[key]
