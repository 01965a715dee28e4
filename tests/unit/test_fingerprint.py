"""Dataset fingerprints: same data, same fingerprint from CSV or Parquet; any change shows."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from alliance.canonical import canonical_json, object_digest
from alliance.datafile import (
    Column,
    infer_schema,
    iter_rows,
    normalise_decimal,
    read_column,
)
from alliance.errors import DatasetFileError
from alliance.fingerprint import (
    EMPTY_ROOT,
    MerkleAccumulator,
    ProofStep,
    batch_row_hashes,
    fingerprint_file,
    fingerprint_rows,
    merkle_proof,
    merkle_root,
    node_hash,
    row_hash,
    verify_merkle_proof,
)

CSV = (
    "id,amount,name,active,joined\n"
    "1,1.50,Alice,true,2024-01-31\n"
    "-2,1e2,\"Bob \"\"B\"\"\",FALSE,2023-02-28\n"
    "+3,0.0000001,,,\n"
    "4,-0.0,Zoë,true,2020-02-29\n"
)


def _parquet_twin(path: Path) -> Path:
    table = pa.table(
        {
            "id": pa.array([1, -2, 3, 4], pa.int64()),
            "amount": pa.array([1.5, 100.0, 1e-7, -0.0], pa.float64()),
            "name": pa.array(["Alice", 'Bob "B"', None, "Zoë"]),
            "active": pa.array([True, False, None, True]),
            "joined": pa.array(
                [dt.date(2024, 1, 31), dt.date(2023, 2, 28), None, dt.date(2020, 2, 29)],
                pa.date32(),
            ),
        }
    )
    pq.write_table(table, path, row_group_size=2)
    return path


@pytest.fixture
def csv_file(tmp_path: Path) -> Path:
    path = tmp_path / "data.csv"
    path.write_text(CSV, encoding="utf-8")
    return path


def test_schema_inference(csv_file: Path) -> None:
    assert infer_schema(csv_file) == [
        Column("id", "integer"),
        Column("amount", "decimal"),
        Column("name", "string"),
        Column("active", "boolean"),
        Column("joined", "date"),
    ]


def test_inference_falls_back_to_string(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("a,b,c,d\n1,2024-13-01,yes,\n2x,2024-01-01,no,\n")
    assert [c.type for c in infer_schema(path)] == ["string", "string", "string", "string"]


def test_cells_are_normalised(csv_file: Path) -> None:
    rows = list(iter_rows(csv_file))
    assert rows[0] == ["1", "1.5", "Alice", "true", "2024-01-31"]
    assert rows[1] == ["-2", "100", 'Bob "B"', "false", "2023-02-28"]
    assert rows[2] == ["3", "0.0000001", "", "", ""]
    assert rows[3] == ["4", "0", "Zoë", "true", "2020-02-29"]


@pytest.mark.parametrize(
    ("text", "normal"),
    [("1.50", "1.5"), ("1e3", "1000"), ("-0.00", "0"), ("+.5", "0.5"), ("10", "10"),
     ("12345678901234567890.123456789012345", "12345678901234567890.123456789012345")],
)
def test_decimal_normal_form(text: str, normal: str) -> None:
    assert normalise_decimal(text) == normal


def test_csv_and_parquet_fingerprints_are_equal(csv_file: Path, tmp_path: Path) -> None:
    from_csv = fingerprint_file(csv_file)
    from_parquet = fingerprint_file(_parquet_twin(tmp_path / "data.parquet"))
    assert from_csv == from_parquet
    assert from_csv.row_count == 4


def test_fingerprint_commits_to_schema_root_and_count(csv_file: Path) -> None:
    fp = fingerprint_file(csv_file)
    expected = object_digest(
        {"schema": object_digest(fp.schema), "merkle_root": fp.merkle_root, "rows": 4}
    )
    assert fp.fingerprint == expected
    assert fp.schema_digest == object_digest(fp.schema)
    assert fp.merkle_root.startswith("sha256:")


def test_one_changed_cell_changes_the_fingerprint(csv_file: Path, tmp_path: Path) -> None:
    changed = tmp_path / "changed.csv"
    changed.write_text(CSV.replace("Alice", "Alicf"), encoding="utf-8")
    assert fingerprint_file(changed).fingerprint != fingerprint_file(csv_file).fingerprint


def test_renamed_column_changes_the_fingerprint(csv_file: Path, tmp_path: Path) -> None:
    renamed = tmp_path / "renamed.csv"
    renamed.write_text(CSV.replace("amount", "amount2", 1), encoding="utf-8")
    a, b = fingerprint_file(csv_file), fingerprint_file(renamed)
    assert a.merkle_root == b.merkle_root
    assert a.fingerprint != b.fingerprint


def test_row_order_matters(tmp_path: Path) -> None:
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_text("x\n1\n2\n")
    b.write_text("x\n2\n1\n")
    assert fingerprint_file(a).fingerprint != fingerprint_file(b).fingerprint


def test_empty_dataset(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("id,name\n")
    fp = fingerprint_file(path)
    assert fp.row_count == 0
    assert fp.merkle_root == "sha256:" + hashlib.sha256(b"").hexdigest()
    assert hashlib.sha256(b"").digest() == EMPTY_ROOT


def test_fast_row_hashes_equal_canonical_json(tmp_path: Path) -> None:
    tricky = ["a\"b", "back\\slash", "tab\tnew\nline", "\x01ctl", "ünï €", "", "😀"]
    kinds = ["string", "integer"]
    columns = [tricky, [str(i) for i in range(len(tricky))]]
    fast = batch_row_hashes(kinds, columns)
    slow = [
        hashlib.sha256(b"\x00" + canonical_json([s, str(i)])).digest()
        for i, s in enumerate(tricky)
    ]
    assert fast == slow == [row_hash([s, str(i)]) for i, s in enumerate(tricky)]


def test_file_and_row_fingerprints_agree(csv_file: Path) -> None:
    schema = infer_schema(csv_file)
    assert fingerprint_rows(schema, iter_rows(csv_file)) == fingerprint_file(csv_file)


def test_streaming_matches_small_batches(tmp_path: Path) -> None:
    path = tmp_path / "n.csv"
    path.write_text("n\n" + "".join(f"{i}\n" for i in range(1000)))
    leaves = [row_hash([str(i)]) for i in range(1000)]
    assert fingerprint_file(path).merkle_root == merkle_root(leaves)


# --- Merkle tree -----------------------------------------------------------------------------


def _leaves(n: int) -> list[bytes]:
    return [row_hash([str(i)]) for i in range(n)]


def _promoting_root(leaves: list[bytes]) -> bytes:
    """The documented rule: pair left to right, promote an odd last node unchanged."""
    if not leaves:
        return EMPTY_ROOT
    level = leaves
    while len(level) > 1:
        nxt = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


@pytest.mark.parametrize("n", [1, 2, 3, 5, 7, 8, 13, 64, 100])
def test_root_follows_the_odd_node_promotion_rule(n: int) -> None:
    leaves = _leaves(n)
    assert merkle_root(leaves) == "sha256:" + _promoting_root(leaves).hex()
    acc = MerkleAccumulator()
    for leaf in leaves:
        acc.add(leaf)
    assert acc.root() == _promoting_root(leaves)


def test_single_leaf_root_is_the_leaf() -> None:
    leaf = row_hash(["x"])
    assert merkle_root([leaf]) == "sha256:" + leaf.hex()


@pytest.mark.parametrize("n", [1, 2, 3, 6, 11, 32])
def test_every_proof_verifies(n: int) -> None:
    leaves = _leaves(n)
    root = merkle_root(leaves)
    for index in range(n):
        assert verify_merkle_proof(leaves[index], merkle_proof(leaves, index), root)


def test_tampered_proof_fails() -> None:
    leaves = _leaves(11)
    root = merkle_root(leaves)
    proof = merkle_proof(leaves, 5)
    flipped = bytes([proof[0].sibling[0] ^ 1]) + proof[0].sibling[1:]
    tampered = [ProofStep(flipped, proof[0].sibling_on_left), *proof[1:]]
    assert not verify_merkle_proof(leaves[5], tampered, root)
    swapped = [ProofStep(proof[0].sibling, not proof[0].sibling_on_left), *proof[1:]]
    assert not verify_merkle_proof(leaves[5], swapped, root)
    assert not verify_merkle_proof(leaves[6], proof, root)
    assert not verify_merkle_proof(leaves[5], proof[:-1], root)


def test_proof_round_trips_through_json() -> None:
    leaves = _leaves(9)
    proof = [ProofStep.from_dict(step.to_dict()) for step in merkle_proof(leaves, 8)]
    assert verify_merkle_proof(leaves[8], proof, merkle_root(leaves))


def test_proof_index_out_of_range() -> None:
    with pytest.raises(IndexError):
        merkle_proof(_leaves(3), 3)


# --- reading files -----------------------------------------------------------------------------


def test_read_column_types(csv_file: Path) -> None:
    ids = read_column(csv_file, "id")
    assert ids.dtype == np.int64 and ids.tolist() == [1, -2, 3, 4]
    amounts = read_column(csv_file, "amount")
    assert amounts.dtype == np.float64 and amounts[1] == 100.0
    names = read_column(csv_file, "name")
    assert names.dtype == object and names.tolist() == ["Alice", 'Bob "B"', "", "Zoë"]


def test_read_parquet_column(tmp_path: Path) -> None:
    path = _parquet_twin(tmp_path / "d.parquet")
    assert read_column(path, "id").tolist() == [1, -2, 3, 4]
    assert read_column(path, "name").tolist() == ["Alice", 'Bob "B"', "", "Zoë"]


def test_missing_integer_cells_are_an_error(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("n\n1\n\n2\n,\n".replace(",", " "))
    with pytest.raises(DatasetFileError, match="missing"):
        read_column(path, "n")


def test_unknown_column_lists_the_available_ones(csv_file: Path) -> None:
    with pytest.raises(DatasetFileError, match="available columns: id, amount, name"):
        read_column(csv_file, "salary")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DatasetFileError, match="does not exist"):
        fingerprint_file(tmp_path / "absent.csv")


def test_file_without_header(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("1,2\n3,4\n")
    with pytest.raises(DatasetFileError, match="header"):
        fingerprint_file(path)


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("")
    with pytest.raises(DatasetFileError, match="header"):
        infer_schema(path)


def test_ragged_rows(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("a,b\n1,2\n3\n")
    with pytest.raises(DatasetFileError, match="data row 2: 1 cells where the header has 2"):
        fingerprint_file(path)


def test_unsupported_extension(tmp_path: Path) -> None:
    path = tmp_path / "d.xlsx"
    path.write_bytes(b"PK")
    with pytest.raises(DatasetFileError, match="unsupported file type"):
        fingerprint_file(path)


def test_cell_that_breaks_the_registered_schema(csv_file: Path, tmp_path: Path) -> None:
    schema = infer_schema(csv_file)
    changed = tmp_path / "changed.csv"
    changed.write_text(CSV.replace("+3,", "three,"), encoding="utf-8")
    with pytest.raises(DatasetFileError, match="data row 3: integer column holds 'three'"):
        fingerprint_file(changed, schema)
