"""Dataset fingerprints: a commitment to a dataset's schema and every row, rows staying private.

    row hash     = SHA-256(0x00 || canonical JSON of the row's normalised cell texts)
    node hash    = SHA-256(0x01 || left || right)
    merkle root  = the Merkle Tree Hash of RFC 6962 (Certificate Transparency) §2.1 over the row
                   hashes in file order; the empty tree's root is SHA-256(b"")
    fingerprint  = object_digest({"schema": object_digest(schema), "merkle_root": root, "rows": n})

RFC 6962's tree is the same as pairing each level left to right and promoting an odd last node
to the next level unchanged (no duplication, so no CVE-2012-2459 style second preimages). One
row's membership is proven with `merkle_proof` and checked with `verify_merkle_proof`, without
revealing the other rows. Cell normalisation is in `alliance.datafile`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from json.encoder import encode_basestring  # type: ignore[attr-defined]
from pathlib import Path

from alliance.canonical import DIGEST_PREFIX, canonical_json, object_digest
from alliance.datafile import Column, iter_batches, schema_dicts
from alliance.errors import DatasetFileError

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()


def row_hash(cells: Sequence[str]) -> bytes:
    """The leaf hash of one row, from its normalised cell texts."""
    return hashlib.sha256(LEAF_PREFIX + canonical_json(list(cells))).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def _safe_column(kind: str) -> bool:
    """Normalised integer, decimal, boolean and date texts never need JSON escaping."""
    return kind != "string"


def batch_row_hashes(kinds: Sequence[str], columns: Sequence[Sequence[str]]) -> list[bytes]:
    """`row_hash` of every row of a column-major batch, without per-row json.dumps."""
    quoted = [
        ['"' + c + '"' for c in col] if _safe_column(kind) else [encode_basestring(c) for c in col]
        for kind, col in zip(kinds, columns, strict=True)
    ]
    sha = hashlib.sha256
    if not quoted:
        return []
    return [
        sha(b"\x00[" + ",".join(parts).encode() + b"]").digest()
        for parts in zip(*quoted, strict=True)
    ]


def _perfect_root(leaves: Sequence[bytes]) -> bytes:
    """Root of a power-of-two number of leaves, one level at a time."""
    sha = hashlib.sha256
    level = list(leaves)
    while len(level) > 1:
        level = [
            sha(NODE_PREFIX + level[i] + level[i + 1]).digest() for i in range(0, len(level), 2)
        ]
    return level[0]


class MerkleAccumulator:
    """The RFC 6962 root of a stream of leaf hashes in O(log n) memory."""

    def __init__(self) -> None:
        self._stack: list[tuple[int, bytes]] = []
        self.count = 0

    def add(self, leaf: bytes) -> None:
        self._push(1, leaf)

    def _push(self, size: int, digest: bytes) -> None:
        """Push the root of a complete subtree of `size` leaves aligned at `self.count`."""
        stack = self._stack
        self.count += size
        while stack and stack[-1][0] == size:
            _, left = stack.pop()
            digest = node_hash(left, digest)
            size *= 2
        stack.append((size, digest))

    def extend(self, leaves: Sequence[bytes]) -> None:
        """Add many leaves, hashing aligned power-of-two runs level by level (faster)."""
        start, total = 0, len(leaves)
        while start < total:
            remaining = total - start
            size = 1 << (remaining.bit_length() - 1)
            if self.count:
                size = min(size, self.count & -self.count)  # stay aligned with the stack
            self._push(size, _perfect_root(leaves[start : start + size]))
            start += size

    def root(self) -> bytes:
        if not self._stack:
            return EMPTY_ROOT
        digest = self._stack[-1][1]
        for _, left in reversed(self._stack[:-1]):
            digest = node_hash(left, digest)
        return digest


def _hex(digest: bytes) -> str:
    return DIGEST_PREFIX + digest.hex()


def _raw(root: str | bytes) -> bytes:
    if isinstance(root, bytes):
        return root
    if not root.startswith(DIGEST_PREFIX):
        raise ValueError(f"expected a 'sha256:<hex>' digest, got {root!r}")
    return bytes.fromhex(root[len(DIGEST_PREFIX) :])


def _root_of(leaves: Sequence[bytes], lo: int, hi: int) -> bytes:
    acc = MerkleAccumulator()
    acc.extend(leaves[lo:hi])
    return acc.root()


def merkle_root(leaves: Sequence[bytes]) -> str:
    """`sha256:<hex>` root of the given leaf hashes."""
    return _hex(_root_of(leaves, 0, len(leaves)))


@dataclass(frozen=True)
class ProofStep:
    """One level of an audit path: the sibling hash and on which side it sits."""

    sibling: bytes
    sibling_on_left: bool

    def to_dict(self) -> dict[str, str]:
        return {"side": "left" if self.sibling_on_left else "right", "hash": self.sibling.hex()}

    @classmethod
    def from_dict(cls, item: dict[str, str]) -> ProofStep:
        return cls(bytes.fromhex(item["hash"]), item["side"] == "left")


def merkle_proof(leaves: Sequence[bytes], index: int) -> list[ProofStep]:
    """The audit path of leaf `index` (RFC 6962 §2.1.1), leaf level first."""
    if not 0 <= index < len(leaves):
        raise IndexError(f"leaf index {index} outside a tree of {len(leaves)} leaves")
    steps: list[ProofStep] = []
    lo, hi = 0, len(leaves)
    while hi - lo > 1:
        k = 1 << ((hi - lo - 1).bit_length() - 1)  # largest power of two < n
        if index < lo + k:
            steps.append(ProofStep(_root_of(leaves, lo + k, hi), sibling_on_left=False))
            hi = lo + k
        else:
            steps.append(ProofStep(_root_of(leaves, lo, lo + k), sibling_on_left=True))
            lo = lo + k
    steps.reverse()
    return steps


def verify_merkle_proof(leaf: bytes, proof: Sequence[ProofStep], root: str | bytes) -> bool:
    """True when `leaf` (a row hash) with `proof` hashes up to `root`."""
    digest = leaf
    for step in proof:
        if step.sibling_on_left:
            digest = node_hash(step.sibling, digest)
        else:
            digest = node_hash(digest, step.sibling)
    try:
        return digest == _raw(root)
    except ValueError:
        return False


@dataclass(frozen=True)
class DatasetFingerprint:
    """What goes on the ledger for a dataset: schema, row count, Merkle root, fingerprint."""

    schema: list[dict[str, str]]
    row_count: int
    merkle_root: str
    fingerprint: str = field(default="")

    @property
    def schema_digest(self) -> str:
        return object_digest(self.schema)

    def to_dict(self) -> dict[str, object]:
        return {
            "schema": self.schema,
            "row_count": self.row_count,
            "merkle_root": self.merkle_root,
            "fingerprint": self.fingerprint,
        }


def dataset_fingerprint(schema: Sequence[dict[str, str]], merkle_root: str, rows: int) -> str:
    """`sha256:` of canonical JSON {"schema": schema digest, "merkle_root": root, "rows": n}."""
    return object_digest(
        {"schema": object_digest(list(schema)), "merkle_root": merkle_root, "rows": rows}
    )


def _result(schema: Sequence[Column], acc: MerkleAccumulator) -> DatasetFingerprint:
    dicts = schema_dicts(schema)
    root = _hex(acc.root())
    return DatasetFingerprint(
        schema=dicts,
        row_count=acc.count,
        merkle_root=root,
        fingerprint=dataset_fingerprint(dicts, root, acc.count),
    )


def fingerprint_rows(schema: Sequence[Column], rows: Iterable[Sequence[str]]) -> DatasetFingerprint:
    """Fingerprint of rows already given as normalised cell texts (e.g. from `iter_rows`)."""
    acc = MerkleAccumulator()
    width = len(schema)
    for number, row in enumerate(rows, start=1):
        if len(row) != width:
            raise DatasetFileError(
                f"data row {number} has {len(row)} cells where the schema has {width}"
            )
        acc.add(row_hash(row))
    return _result(schema, acc)


def fingerprint_batches(
    schema: Sequence[Column], batches: Iterable[Sequence[Sequence[str]]]
) -> DatasetFingerprint:
    """Fingerprint column-major batches of normalised cells (`batch[column][row]`)."""
    kinds = [c.type for c in schema]
    acc = MerkleAccumulator()
    for batch in batches:
        acc.extend(batch_row_hashes(kinds, batch))
    return _result(schema, acc)


def fingerprint_file(path: Path, schema: Sequence[Column] | None = None) -> DatasetFingerprint:
    """Stream a CSV or Parquet file and fingerprint it (schema inferred unless given)."""
    from alliance.datafile import infer_schema

    columns = list(schema) if schema is not None else infer_schema(path)
    return fingerprint_batches(columns, iter_batches(path, columns))
