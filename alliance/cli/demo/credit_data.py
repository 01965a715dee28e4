"""Seeded synthetic credit data for the credit demo: a bank's loans with the default label and a
telecom's subscribers with behavioural features, about partly the same people.

One pool of people; each has bank-side traits (income, card utilisation, age) and telecom-side
traits (tenure, monthly bill, late payments); whether they defaulted depends on both (a logistic
model), so the telecom's features add to the bank's. The bank lends to some of them, the telecom
serves some of them, in its own row order: only a PSI job tells who is in both.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

POOL = 3000
BANK_ROWS = 2400
TELECOM_ROWS = 2300
BANK_COLUMNS = ("income", "utilisation", "age")
TELECOM_COLUMNS = ("tenure_months", "monthly_bill", "late_payments")


@dataclass(frozen=True)
class CreditTable:
    org: str
    name: str
    path: Path
    ids: list[str]
    columns: dict[str, np.ndarray]
    """Column name -> values in the file's row order (the label included at the bank)."""


def people(seed: int) -> tuple[list[str], dict[str, np.ndarray], np.ndarray]:
    """(ids, traits, defaulted) of the whole pool."""
    rng = np.random.default_rng([seed, 1207])
    ids = [f"P{i:06d}" for i in range(POOL)]
    traits = {
        "income": np.round(rng.lognormal(8.3, 0.45, POOL), 2),
        "utilisation": np.round(rng.beta(2, 3, POOL), 4),
        "age": rng.integers(19, 76, POOL),
        "tenure_months": rng.integers(1, 121, POOL),
        "monthly_bill": np.round(rng.gamma(3.0, 15.0, POOL), 2),
        "late_payments": rng.poisson(0.7, POOL),
    }
    z = (-1.2 - 0.9 * (np.log(traits["income"]) - 8.3) / 0.45 + 2.2 * (traits["utilisation"] - 0.4)
         - 0.02 * (traits["age"] - 45) - 0.012 * (traits["tenure_months"] - 60)
         + 0.55 * traits["late_payments"] + 0.004 * (traits["monthly_bill"] - 45))
    bad = (rng.random(POOL) < 1 / (1 + np.exp(-z))).astype(np.int64)
    return ids, traits, bad


def write_credit(folder: Path, seed: int) -> dict[str, CreditTable]:
    """Write the bank's loans and the telecom's subscribers as CSV files."""
    folder.mkdir(parents=True, exist_ok=True)
    ids, traits, bad = people(seed)
    rng = np.random.default_rng([seed, 2024])
    out: dict[str, CreditTable] = {}
    for org, name, rows, columns, with_label in (
        ("bank", "loans", BANK_ROWS, BANK_COLUMNS, True),
        ("telecom", "subscribers", TELECOM_ROWS, TELECOM_COLUMNS, False),
    ):
        picks = rng.choice(POOL, size=rows, replace=False)  # each member's own row order
        table = {c: traits[c][picks] for c in columns}
        if with_label:
            table = {"bad": bad[picks], **table}
        path = folder / f"{org}-{name}.csv"
        with open(path, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["customer_id", *table])
            for k, i in enumerate(picks):
                writer.writerow([ids[i], *(str(col[k]) for col in table.values())])
        out[org] = CreditTable(org, name, path, [ids[i] for i in picks], table)
    return out
