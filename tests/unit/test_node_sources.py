"""Local data sources: a SQL table fingerprints like the same rows in a CSV file."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from node.errors import DatasetError
from node.sources import FileSource, SqlSource, open_source

ROWS = [("c1", 100), ("c2", 250), ("c3", -75)]


@pytest.fixture
def csv_file(tmp_path: Path) -> Path:
    path = tmp_path / "customers.csv"
    path.write_text("id,balance\n" + "".join(f"{i},{b}\n" for i, b in ROWS))
    return path


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    path = tmp_path / "bank.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE customers (id TEXT PRIMARY KEY, balance INTEGER NOT NULL)")
        db.executemany("INSERT INTO customers VALUES (?, ?)", ROWS)
    return f"sqlite:///{path}"


def test_sql_table_has_the_csv_fingerprint(csv_file: Path, sqlite_url: str) -> None:
    assert SqlSource(sqlite_url, "customers").fingerprint() == FileSource(csv_file).fingerprint()


def test_sql_column_reads_as_numbers(sqlite_url: str) -> None:
    column = open_source(f"{sqlite_url}#customers").read_column("balance")
    assert column.dtype == np.int64
    assert column.tolist() == [100, 250, -75]


def test_unknown_sql_table_is_a_clear_error(sqlite_url: str) -> None:
    with pytest.raises(DatasetError, match="no table 'clients'"):
        SqlSource(sqlite_url, "clients").schema()


def test_sql_location_without_table_is_refused(sqlite_url: str) -> None:
    with pytest.raises(DatasetError, match="URL#table"):
        open_source(sqlite_url)


def test_missing_file_is_a_dataset_error(tmp_path: Path) -> None:
    with pytest.raises(DatasetError):
        FileSource(tmp_path / "absent.csv").fingerprint()


def test_a_verified_csv_column_matches_read_column_and_fingerprint_file(csv_file: Path) -> None:
    from alliance.fingerprint import fingerprint_file

    values, fp = FileSource(csv_file).read_column_verified("balance")
    assert fp == fingerprint_file(csv_file)
    assert values.dtype == np.int64
    assert values.tolist() == FileSource(csv_file).read_column("balance").tolist()


def test_a_verified_parquet_column_matches_read_column_and_fingerprint_file(
    tmp_path: Path,
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from alliance.fingerprint import fingerprint_file

    path = tmp_path / "customers.parquet"
    pq.write_table(pa.table({"id": ["c1", "c2", None], "amount": [1.5, None, 1e-05]}), path)
    source = FileSource(path)
    for column in ("id", "amount"):
        values, fp = source.read_column_verified(column)
        assert fp == fingerprint_file(path)
        expected = source.read_column(column)
        assert values.dtype == expected.dtype
        assert np.array_equal(values, expected, equal_nan=values.dtype == np.float64)


def test_a_verified_sql_column_matches_read_column_and_the_csv_fingerprint(
    csv_file: Path, sqlite_url: str
) -> None:
    values, fp = SqlSource(sqlite_url, "customers").read_column_verified("balance")
    assert fp == FileSource(csv_file).fingerprint()
    assert values.tolist() == SqlSource(sqlite_url, "customers").read_column("balance").tolist()


def test_verified_columns_of_one_dataset_come_from_one_pass(csv_file: Path) -> None:
    values, fp = FileSource(csv_file).read_columns_verified(["id", "balance"])
    assert values["id"].tolist() == [i for i, _ in ROWS]
    assert values["balance"].tolist() == [b for _, b in ROWS]
    assert fp == FileSource(csv_file).fingerprint()


@pytest.mark.parametrize("where", ["csv", "sql"])
def test_a_verified_read_of_an_unknown_column_is_a_dataset_error(
    where: str, csv_file: Path, sqlite_url: str
) -> None:
    source = FileSource(csv_file) if where == "csv" else SqlSource(sqlite_url, "customers")
    with pytest.raises(DatasetError, match="no column 'amount'"):
        source.read_column_verified("amount")


def test_a_missing_sqlite_file_is_an_error_and_is_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "missing.db"
    with pytest.raises(DatasetError, match="no SQLite database file"):
        SqlSource(f"sqlite:///{missing}", "t").schema()
    assert not missing.exists()
