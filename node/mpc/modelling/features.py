"""A party's model features from its aligned columns: the WOE transform when the binning job's
tables are given (local input `woe_bins`), else the job's preprocessing recipe. Local, no I/O."""

from __future__ import annotations

import numpy as np

from node.errors import InputValueError
from node.mpc.modelling import preprocessing
from node.mpc.modelling.tables import decode_tables, woe_transform
from node.mpc.protocol import LocalInputs

WOE_KEY = "woe_bins"
"""Reserved local input: this party's `bins.<org>` output of a binning job (uint8 bytes)."""
MODEL_KEY = "model"
"""Reserved local input: this party's `model.<org>` output of an lr_train job (uint8 bytes)."""


def reserved_bytes(local_inputs: LocalInputs, key: str) -> bytes | None:
    raw = local_inputs.get(key)
    return None if raw is None else bytes(np.asarray(raw, dtype=np.uint8))


def model_categories(names: list[str], columns: dict[str, np.ndarray]) -> dict[str, list[str]]:
    """The one-hot categories a model part was trained on (features `column=category`), per
    column: prediction encodes those, not the categories of the rows it scores."""
    return {key: [n[len(key) + 1:] for n in names if n.startswith(key + "=")] for key in columns}


def build(columns: dict[str, np.ndarray], recipe: preprocessing.Recipe,
          local_inputs: LocalInputs, categories: dict[str, list[str]] | None = None,
          fitted: dict[str, preprocessing.Fitted] | None = None) -> dict[str, np.ndarray]:
    """Feature name -> float64 column, in input order (`categories`: see model_categories;
    `fitted`: the training's recipe figures, at prediction)."""
    woe = reserved_bytes(local_inputs, WOE_KEY)
    tables = decode_tables(woe) if woe is not None else {}
    out: dict[str, np.ndarray] = {}
    for key, column in columns.items():
        if key in tables:
            out[f"{key}:woe"] = woe_transform(tables[key], column)
            continue
        for name, values in preprocessing.apply(recipe, {key: column}, categories,
                                                fitted).items():
            if np.isnan(values).any():
                raise InputValueError(
                    f"feature {name} has missing values; add a fill step for it to the recipe",
                    input_ref=key,
                )
            out[name] = values
    return out


def matrix(features: dict[str, np.ndarray], rows: int) -> np.ndarray:
    """Rows x features float64 (an empty (rows, 0) matrix for a party without features)."""
    if not features:
        return np.zeros((rows, 0))
    return np.column_stack(list(features.values()))
