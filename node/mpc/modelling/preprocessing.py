"""The local preprocessing recipe applied: each party applies the job recipe's steps
(alliance/recipe.py) to its own columns before a modelling protocol starts (no MPC): missing-value
fill, clipping at quantiles, standardisation, one-hot of a categorical. Everything a step needs —
a column's mean, standard deviation, clip bounds, categories — comes from the party's own rows and
stays with it; the recipe on the ledger names only columns and operations, and its canonical-JSON
fingerprint is recorded in the model part: what ran is what was approved.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from alliance.errors import ProtocolSpecError
from alliance.recipe import ColumnStep, Recipe
from node.errors import ProtocolError

__all__ = ["MAX_ONE_HOT", "ColumnStep", "Recipe", "apply", "apply_step", "categories_of",
           "parse_recipe"]

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


def apply_step(step: ColumnStep | None, column: np.ndarray,
               categories: list[str] | None = None) -> dict[str, np.ndarray]:
    """Feature name suffix -> float64 values ('' for the column itself, '=cat' for one-hot; the
    categories are `categories` when given — a model part's — else derived from `column`)."""
    if step is not None and step.one_hot:
        text = np.asarray(column).astype(str)
        cats = categories if categories is not None else categories_of(column, step.column)
        return {f"={cat}": (text == cat).astype(np.float64) for cat in cats}
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
    if step.clip_quantiles is not None and (~np.isnan(x)).any():
        lo, hi = np.nanquantile(x, step.clip_quantiles)
        np.clip(x, lo, hi, out=x)
    if step.standardize:
        std = float(np.nanstd(x))
        x = (x - float(np.nanmean(x))) / (std if std > 0 else 1.0)
    return {"": x}


def apply(recipe: Recipe, columns: dict[str, np.ndarray],
          categories: Mapping[str, list[str]] | None = None) -> dict[str, np.ndarray]:
    """This party's features (name -> float64), in input order, after the recipe's steps;
    `categories` fixes a column's one-hot categories (a model part's, at prediction)."""
    features: dict[str, np.ndarray] = {}
    for key, column in columns.items():
        cats = None if categories is None else categories.get(key)
        for suffix, values in apply_step(recipe.for_column(key), column, cats).items():
            features[key + suffix] = values
    return features
