"""Bin tables: one feature's bins, counts, WOE and IV as plain data, their JSON, and the WOE
transform each owner applies to its own rows (the WOE-transformed data never leaves it)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from alliance.canonical import canonical_json, loads
from node.errors import ProtocolError
from node.mpc.modelling import binning


def num(x: float) -> str:
    """A float as the decimal string the ledger's canonical JSON carries (shortest repr)."""
    return repr(float(x))


@dataclass
class BinTable:
    feature: str
    kind: str  # "numeric" | "categorical"
    breaks: list[float]
    categories: list[str]
    missing: bool
    counts: list[int]
    events: list[int]

    @property
    def labels(self) -> list[str]:
        if self.kind == "categorical":
            return list(self.categories)
        edges = [-math.inf, *self.breaks, math.inf]
        out = [f"[{edges[i]},{edges[i + 1]})" for i in range(len(edges) - 1)]
        return [*out, "missing"] if self.missing else out

    def stats(self) -> binning.WoeIv:
        return binning.woe_iv(np.array(self.events), np.array(self.counts))

    def bin_of(self, column: np.ndarray) -> np.ndarray:
        if self.kind == "categorical":
            lookup = {c: i for i, c in enumerate(self.categories)}
            try:
                return np.array([lookup[str(v)] for v in column], dtype=np.int64)
            except KeyError as exc:
                raise ProtocolError(
                    f"{self.feature} holds category {exc.args[0]!r}, unseen when binning; "
                    "re-run the binning job on the current data"
                ) from None
        values = np.asarray(column, dtype=np.float64)
        index = binning.assign(values, np.array(self.breaks))
        if not self.missing and np.isnan(values).any():
            raise ProtocolError(f"{self.feature} holds missing values, absent when binning")
        return index

    def to_dict(self) -> dict[str, object]:
        stats = self.stats()
        return {
            "feature": self.feature, "kind": self.kind,
            "breaks": [num(b) for b in self.breaks], "categories": self.categories,
            "missing": self.missing, "iv": num(stats.iv),
            "bins": [
                {"bin": label, "count": int(c), "events": int(e), "non_events": int(c - e),
                 "woe": num(w), "bin_iv": num(v)}
                for label, c, e, w, v in zip(self.labels, self.counts, self.events, stats.woe,
                                             stats.bin_iv, strict=True)
            ],
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> BinTable:
        bins = data["bins"]
        assert isinstance(bins, list)
        return cls(
            feature=str(data["feature"]), kind=str(data["kind"]),
            breaks=[float(b) for b in data["breaks"]],  # type: ignore[union-attr]
            categories=[str(c) for c in data["categories"]],  # type: ignore[union-attr]
            missing=bool(data["missing"]),
            counts=[int(b["count"]) for b in bins], events=[int(b["events"]) for b in bins],
        )


def encode_tables(tables: list[BinTable]) -> bytes:
    return canonical_json({"tables": [t.to_dict() for t in tables]})


def decode_tables(data: bytes) -> dict[str, BinTable]:
    try:
        return {t.feature: t for t in (BinTable.from_dict(d) for d in loads(data)["tables"])}
    except (KeyError, TypeError, ValueError) as exc:
        raise ProtocolError(f"the bin tables given are malformed ({exc})") from None


def woe_transform(table: BinTable, column: np.ndarray) -> np.ndarray:
    """Each row's bin's WOE (float64)."""
    return table.stats().woe[table.bin_of(column)]
