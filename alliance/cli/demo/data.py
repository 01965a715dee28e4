"""Seeded synthetic data for the demo: three members' customer tables with overlapping ids.

The bank's customers, the telecom's subscribers and the platform's users are drawn from one pool
of people, so their ids overlap; each table has one numeric (integer) column the statistics job
adds up. Integers keep the secure result exactly equal to the figure computed in the clear.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

POOL = 400


@dataclass(frozen=True)
class DemoTable:
    org: str
    name: str
    id_column: str
    value_column: str
    rows: int


TABLES = (
    DemoTable("bank", "customers", "customer_id", "exposure", 240),
    DemoTable("telecom", "subscribers", "customer_id", "balance", 260),
    DemoTable("platform", "users", "customer_id", "spend", 220),
)


def make_table(table: DemoTable, seed: int) -> tuple[list[str], np.ndarray]:
    """(ids, values) of one table: ids drawn without replacement from the shared pool."""
    rng = np.random.default_rng([seed, sum(table.org.encode())])
    picks = np.sort(rng.choice(POOL, size=table.rows, replace=False))
    ids = [f"C{int(i):05d}" for i in picks]
    values = rng.integers(100, 50_000, size=table.rows, dtype=np.int64)
    return ids, values


def write_tables(folder: Path, seed: int) -> dict[str, tuple[Path, DemoTable, int, int]]:
    """Write each table as CSV; `org -> (path, table, clear sum of its value column, rows)`."""
    folder.mkdir(parents=True, exist_ok=True)
    written: dict[str, tuple[Path, DemoTable, int, int]] = {}
    for table in TABLES:
        ids, values = make_table(table, seed)
        path = folder / f"{table.org}-{table.name}.csv"
        with open(path, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow([table.id_column, table.value_column])
            writer.writerows(zip(ids, (int(v) for v in values), strict=True))
        written[table.org] = (path, table, int(values.sum()), table.rows)
    return written


def overlap(seed: int) -> int:
    """How many ids all three tables share (shown, not computed securely: the demo owns all)."""
    sets = [set(make_table(t, seed)[0]) for t in TABLES]
    return len(set.intersection(*sets))
