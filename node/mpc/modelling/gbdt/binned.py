"""A party's features as bins: from a binning job's tables (local input `woe_bins`) or by
quantiles of its own rows (`max_bin`). Local: bins never leave their owner (the protocol's
selection keeps them private); the bin edges are stored in the owner's model part only.

A numeric feature's bins are [b_i, b_i+1) between its breaks, missing values (NaN) a last bin of
their own; a categorical feature's bins are its sorted categories (ordered, as ordinal codes).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from node.errors import InputValueError, ProtocolError
from node.mpc.modelling import binning, preprocessing
from node.mpc.modelling.tables import BinTable

MAX_BINS = 256


@dataclass(frozen=True)
class FeatureBins:
    """How one feature's values map to bins (what its owner keeps to predict)."""

    name: str
    kind: str  # "numeric" | "categorical"
    breaks: tuple[float, ...] = ()
    categories: tuple[str, ...] = ()
    missing: bool = False

    @property
    def width(self) -> int:
        if self.kind == "categorical":
            return len(self.categories)
        return len(self.breaks) + 1 + int(self.missing)

    def bin_of(self, column: np.ndarray) -> np.ndarray:
        """Each value's bin (uint8); unseen categories and unexpected missing values refused."""
        if self.kind == "categorical":
            lookup = {c: i for i, c in enumerate(self.categories)}
            try:
                return np.array([lookup[str(v)] for v in column], dtype=np.uint8)
            except KeyError as exc:
                raise InputValueError(
                    f"{self.name} holds category {exc.args[0]!r}, unseen when the model was "
                    "trained; train again on data that has it", input_ref=self.name) from None
        values = np.asarray(column, dtype=np.float64)
        if not self.missing and np.isnan(values).any():
            # a missing value unseen in training goes with the highest bin
            values = np.where(np.isnan(values), np.inf, values)
        return binning.assign(values, np.array(self.breaks, dtype=np.float64)).astype(np.uint8)

    def threshold(self, b: int) -> str:
        """What bin <= b means, for people: `x < break` or the categories sent left."""
        if self.kind == "categorical":
            return f"{self.name} in {{{', '.join(self.categories[:b + 1])}}}"
        if b >= len(self.breaks):
            return f"{self.name} is not missing"
        return f"{self.name} < {self.breaks[b]!r}"

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "kind": self.kind, "breaks": [repr(b) for b in self.breaks],
                "categories": list(self.categories), "missing": self.missing}

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> FeatureBins:
        return cls(str(data["name"]), str(data["kind"]),
                   tuple(float(b) for b in data["breaks"]),  # type: ignore[attr-defined]
                   tuple(str(c) for c in data["categories"]),  # type: ignore[attr-defined]
                   bool(data["missing"]))


def from_table(table: BinTable) -> FeatureBins:
    return FeatureBins(table.feature, table.kind, tuple(table.breaks), tuple(table.categories),
                       table.missing)


def by_quantile(name: str, column: np.ndarray, max_bin: int) -> FeatureBins:
    """Equal-frequency bins of one column (numeric), or its categories (at most max_bin)."""
    if not binning.is_numeric(column):
        cats = binning.categories(column)
        if len(cats) > min(max_bin, MAX_BINS):
            raise InputValueError(
                f"{name} has {len(cats)} categories, more than max_bin={max_bin}; group them "
                "first or request a larger max_bin", input_ref=name)
        return FeatureBins(name, "categorical", categories=tuple(cats))
    values = np.asarray(column, dtype=np.float64)
    missing = bool(np.isnan(values).any())
    k = max_bin - 1 if missing else max_bin
    breaks = binning.drop_empty(values, binning.numeric_breaks(values, "quantile", k))
    return FeatureBins(name, "numeric", tuple(float(b) for b in breaks), missing=missing)


def bin_columns(columns: dict[str, np.ndarray], recipe: preprocessing.Recipe,
                tables: dict[str, BinTable] | None, max_bin: int, rows: int
                ) -> tuple[list[FeatureBins], np.ndarray]:
    """This party's features and its (features, rows) uint8 bin matrix, in input order."""
    specs: list[FeatureBins] = []
    out = np.zeros((len(columns), rows), dtype=np.uint8)
    for f, (key, column) in enumerate(columns.items()):
        step = recipe.for_column(key)
        values = (column if step is None or step.one_hot
                  else preprocessing.apply_step(step, column)[""])
        if tables is not None:
            if key not in tables:
                raise ProtocolError(f"the binning job has no bins for {key}; name a binning job "
                                    "over the same columns")
            spec = from_table(tables[key])
        else:
            spec = by_quantile(key, values, max_bin)
        if spec.width > MAX_BINS:
            raise ProtocolError(f"{key} has {spec.width} bins; at most {MAX_BINS}")
        specs.append(spec)
        out[f] = spec.bin_of(values)
    return specs, out


def apply_bins(specs: list[FeatureBins], columns: dict[str, np.ndarray],
               recipe: preprocessing.Recipe, rows: int) -> np.ndarray:
    """The (features, rows) bins of new rows under a model part's stored bins."""
    names = [s.name for s in specs]
    if sorted(names) != sorted(columns):
        raise ProtocolError(f"the model part was trained on {names}, but this job gives "
                            f"{list(columns)}; request the prediction on the training job's "
                            "columns")
    out = np.zeros((len(specs), rows), dtype=np.uint8)
    for f, spec in enumerate(specs):
        column = columns[spec.name]
        step = recipe.for_column(spec.name)
        values = (column if step is None or step.one_hot
                  else preprocessing.apply_step(step, column)[""])
        out[f] = spec.bin_of(values)
    return out
