"""The local preprocessing recipe: declared as data in the job, fingerprinted, applied locally.

Each party applies the steps for its own columns before a modelling protocol starts (no MPC):
missing-value fill, clipping, standardisation, one-hot of a categorical. The recipe is a pydantic
model so the job parameter can be validated at request time and its canonical-JSON fingerprint
recorded with the approval: what ran is what was approved. Statistics a step needs (a column's
mean or standard deviation) come from the party's own rows and stay with it.
"""

from __future__ import annotations

import json
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from alliance.canonical import canonical_json, sha256_digest
from node.errors import ProtocolError


class ColumnStep(BaseModel):
    """What to do with one input column (`org/dataset:column`), in this order."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    column: str
    fill: Literal["mean", "median", "zero"] | None = None
    clip: tuple[float, float] | None = None
    standardize: bool = False
    one_hot: list[str] | None = Field(
        default=None, description="categories to encode, one 0/1 feature each (others: all 0)"
    )


class Recipe(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    steps: list[ColumnStep] = []

    @classmethod
    def parse(cls, text: str | None) -> Recipe:
        if not text:
            return cls()
        try:
            return cls.model_validate(json.loads(text))
        except (ValueError, ValidationError) as exc:
            raise ProtocolError(
                f"the job parameter recipe is not a valid preprocessing recipe: {exc}"
            ) from None

    def canonical(self) -> bytes:
        """Canonical JSON (floats as their shortest decimal strings: the ledger has no floats)."""
        return canonical_json(_no_floats(json.loads(self.model_dump_json())))

    def fingerprint(self) -> str:
        return sha256_digest(self.canonical())

    def for_column(self, key: str) -> ColumnStep | None:
        return next((s for s in self.steps if s.column == key), None)


def _no_floats(value: Any) -> Any:
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, list):
        return [_no_floats(v) for v in value]
    if isinstance(value, dict):
        return {k: _no_floats(v) for k, v in value.items()}
    return value


def apply_step(step: ColumnStep | None, column: np.ndarray) -> dict[str, np.ndarray]:
    """Feature name suffix -> float64 values ('' for the column itself, '=cat' for one-hot)."""
    if step is not None and step.one_hot is not None:
        text = np.asarray(column).astype(str)
        return {f"={cat}": (text == cat).astype(np.float64) for cat in step.one_hot}
    try:
        x = np.asarray(column, dtype=np.float64).copy()
    except (TypeError, ValueError):
        raise ProtocolError(
            f"column {step.column if step else ''} is not numeric; declare a one_hot step for it "
            "in the job's recipe"
        ) from None
    if step is None:
        return {"": x}
    missing = np.isnan(x)
    if step.fill is not None and missing.any():
        ok = x[~missing]
        value = {"zero": 0.0, "mean": float(ok.mean()) if ok.size else 0.0,
                 "median": float(np.median(ok)) if ok.size else 0.0}[step.fill]
        x[missing] = value
    if step.clip is not None:
        np.clip(x, step.clip[0], step.clip[1], out=x)
    if step.standardize:
        std = float(np.nanstd(x))
        x = (x - float(np.nanmean(x))) / (std if std > 0 else 1.0)
    return {"": x}


def apply(recipe: Recipe, columns: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """This party's features (name -> float64), in input order, after the recipe's steps."""
    features: dict[str, np.ndarray] = {}
    for key, column in columns.items():
        for suffix, values in apply_step(recipe.for_column(key), column).items():
            features[key + suffix] = values
    return features
