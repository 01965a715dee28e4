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
