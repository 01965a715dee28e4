"""The local preprocessing recipe applied: each party applies the job recipe's steps
(alliance/recipe.py) to its own columns before a modelling protocol starts (no MPC): missing-value
fill, clipping at quantiles, standardisation, one-hot of a categorical. Everything a step needs —
a column's mean, standard deviation, clip bounds, categories — comes from the party's own rows and
stays with it; the recipe on the ledger names only columns and operations, and its canonical-JSON
fingerprint is recorded in the model part: what ran is what was approved.

Training fits each step's figures on the training rows (`fit`: the fill value, clip bounds, mean
and standard deviation) and keeps them in the owner's model part; prediction applies those
figures (`apply(..., fitted=)`), never figures of the rows it scores, so a batch of new rows, or
one row, is transformed exactly as the training rows were.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from alliance.errors import ProtocolSpecError
from alliance.recipe import ColumnStep, Recipe
from node.errors import ProtocolError

__all__ = ["MAX_ONE_HOT", "ColumnStep", "Fitted", "Recipe", "apply", "apply_step",
           "categories_of", "fit", "parse_recipe"]

MAX_ONE_HOT = 64
"""Most categories a one-hot step derives from a column (one feature each)."""


def parse_recipe(text: str | None) -> Recipe:
    """The job's recipe (the contract validated it already); ProtocolError otherwise."""
    try:
        return Recipe.parse(text)
    except ProtocolSpecError as exc:
        raise ProtocolError(str(exc)) from None


def categories_of(column: np.ndarray, key: str) -> list[str]:
    """The one-hot categories of a column, from this party's own rows: every distinct value but
    the first in sorted order (the reference level, all zeros)."""
    cats = sorted(set(np.asarray(column).astype(str).tolist()))
    if len(cats) > MAX_ONE_HOT + 1:
        raise ProtocolError(
            f"column {key} has {len(cats)} categories; one-hot takes at most {MAX_ONE_HOT + 1}: "
            "group them first"
        )
    return cats[1:]


@dataclass(frozen=True)
class Fitted:
    """A numeric step's figures from the rows it was fitted on (None: the step has no such
    part)."""

    fill: float | None = None
    clip: tuple[float, float] | None = None
    mean: float | None = None
    std: float | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.fill is not None:
            out["fill"] = repr(self.fill)
        if self.clip is not None:
            out["clip"] = [repr(self.clip[0]), repr(self.clip[1])]
        if self.mean is not None and self.std is not None:
            out["mean"], out["std"] = repr(self.mean), repr(self.std)
        return out

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Fitted:
        clip = raw.get("clip")
        return cls(
            fill=float(raw["fill"]) if "fill" in raw else None,
            clip=(float(clip[0]), float(clip[1])) if clip is not None else None,
            mean=float(raw["mean"]) if "mean" in raw else None,
            std=float(raw["std"]) if "std" in raw else None,
        )


def _numeric(step: ColumnStep | None, column: np.ndarray) -> np.ndarray:
    try:
        return np.asarray(column, dtype=np.float64).copy()
    except (TypeError, ValueError):
        raise ProtocolError(
            f"column {step.column if step else ''} is not numeric; declare a one_hot step for it "
            "in the job's recipe"
        ) from None


def _transform(step: ColumnStep, x: np.ndarray, fitted: Fitted | None) -> tuple[np.ndarray, Fitted]:
    """x after the step, with the figures used: `fitted`'s, else x's own (fitting them)."""
    fill = clip = mean = std = None
    if step.fill is not None:
        if fitted is not None and fitted.fill is not None:
            fill = fitted.fill
        else:
            ok = x[~np.isnan(x)]
            fill = {"zero": 0.0, "mean": float(ok.mean()) if ok.size else 0.0,
                    "median": float(np.median(ok)) if ok.size else 0.0}[step.fill]
        x[np.isnan(x)] = fill
    if step.clip_quantiles is not None:
        if fitted is not None and fitted.clip is not None:
            clip = fitted.clip
        elif (~np.isnan(x)).any():
            lo, hi = np.nanquantile(x, step.clip_quantiles)
            clip = (float(lo), float(hi))
        if clip is not None:
            np.clip(x, clip[0], clip[1], out=x)
    if step.standardize:
        if fitted is not None and fitted.mean is not None and fitted.std is not None:
            mean, std = fitted.mean, fitted.std
        else:
            mean, std = float(np.nanmean(x)), float(np.nanstd(x))
        x = (x - mean) / (std if std > 0 else 1.0)
    return x, Fitted(fill, clip, mean, std)


def apply_step(step: ColumnStep | None, column: np.ndarray,
               categories: list[str] | None = None, fitted: Fitted | None = None
               ) -> dict[str, np.ndarray]:
    """Feature name suffix -> float64 values ('' for the column itself, '=cat' for one-hot; the
    categories are `categories` when given — a model part's — else derived from `column`; the
    numeric figures are `fitted`'s when given — a model part's — else `column`'s own)."""
    if step is not None and step.one_hot:
        text = np.asarray(column).astype(str)
        cats = categories if categories is not None else categories_of(column, step.column)
        return {f"={cat}": (text == cat).astype(np.float64) for cat in cats}
    x = _numeric(step, column)
    if step is None:
        return {"": x}
    return {"": _transform(step, x, fitted)[0]}


def fit(recipe: Recipe, columns: dict[str, np.ndarray]) -> dict[str, Fitted]:
    """Each numeric step's figures on these (training) rows, by column; none for one-hot."""
    out: dict[str, Fitted] = {}
    for key, column in columns.items():
        step = recipe.for_column(key)
        if step is None or step.one_hot:
            continue
        figures = _transform(step, _numeric(step, column), None)[1]
        if figures != Fitted():
            out[key] = figures
    return out


def apply(recipe: Recipe, columns: dict[str, np.ndarray],
          categories: Mapping[str, list[str]] | None = None,
          fitted: Mapping[str, Fitted] | None = None) -> dict[str, np.ndarray]:
    """This party's features (name -> float64), in input order, after the recipe's steps;
    `categories` fixes a column's one-hot categories and `fitted` its numeric figures (a model
    part's, at prediction)."""
    features: dict[str, np.ndarray] = {}
    for key, column in columns.items():
        cats = None if categories is None else categories.get(key)
        figures = None if fitted is None else fitted.get(key)
        for suffix, values in apply_step(recipe.for_column(key), column, cats,
                                         figures).items():
            features[key + suffix] = values
    return features
