"""The local preprocessing recipe of a modelling job: which operations each owner applies to its
own columns before the protocol starts. Domain model only (pure): the contract validates it at
RequestJob, the node applies it (node/mpc/modelling/preprocessing.py).

What the recipe may say, and why: it is a job parameter, so it is written to the ledger, and
nothing from a member's rows may be. It names columns and operations only: `fill` (mean, median
or zero), `clip_quantiles` (bounds given as quantiles of the owner's own rows, e.g. [0.01, 0.99],
not as values), `standardize`, and `one_hot: true` (the categories come from the owner's own rows
at training and from its model part at prediction; none is written in the recipe). A recipe with
literal clip bounds or category lists is refused with a message saying what to write instead.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from alliance.canonical import canonical_json, sha256_digest
from alliance.errors import ProtocolSpecError
from alliance.refs import INPUT_REF


class ColumnStep(BaseModel):
    """What to do with one input column (`org/dataset:column`), in this order."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    column: str
    fill: Literal["mean", "median", "zero"] | None = None
    clip_quantiles: tuple[float, float] | None = None
    standardize: bool = False
    one_hot: bool = False

    @model_validator(mode="before")
    @classmethod
    def _no_row_values(cls, data: Any) -> Any:
        if isinstance(data, dict) and "clip" in data:
            raise ValueError(
                "clip bounds are values from a member's rows and would be written to the ledger; "
                "write clip_quantiles: [LO, HI] (quantiles of the owner's own rows, 0 <= LO < HI "
                "<= 1) instead"
            )
        if isinstance(data, dict) and isinstance(data.get("one_hot"), list):
            raise ValueError(
                "one_hot takes true, not a list: categories are values from a member's rows and "
                "would be written to the ledger; each owner derives them from its own rows"
            )
        return data

    @field_validator("column")
    @classmethod
    def _column(cls, text: str) -> str:
        if not INPUT_REF.match(text):
            raise ValueError(f"column {text!r} is not an input reference ORG/DATASET:COLUMN")
        return text

    @field_validator("clip_quantiles")
    @classmethod
    def _quantiles(cls, value: tuple[float, float] | None) -> tuple[float, float] | None:
        if value is not None and not 0.0 <= value[0] < value[1] <= 1.0:
            raise ValueError("clip_quantiles are two quantiles LO < HI in [0, 1]")
        return value


class Recipe(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    steps: list[ColumnStep] = []

    @classmethod
    def parse(cls, text: str | None) -> Recipe:
        """The recipe of a job parameter; ProtocolSpecError (a ValueError) saying what is wrong."""
        if not text:
            return cls()
        try:
            recipe = cls.model_validate(json.loads(text))
        except (ValueError, ValidationError) as exc:
            raise ProtocolSpecError(
                f"the job parameter recipe is not a valid preprocessing recipe: {_brief(exc)}"
            ) from None
        columns = [s.column for s in recipe.steps]
        if len(set(columns)) != len(columns):
            raise ProtocolSpecError("the job parameter recipe is not a valid preprocessing "
                                    "recipe: a column has two steps; merge them into one")
        return recipe

    def canonical(self) -> bytes:
        """Canonical JSON (floats as their shortest decimal strings: the ledger has no floats)."""
        return canonical_json(_no_floats(json.loads(self.model_dump_json())))

    def fingerprint(self) -> str:
        return sha256_digest(self.canonical())

    def for_column(self, key: str) -> ColumnStep | None:
        return next((s for s in self.steps if s.column == key), None)


def _brief(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'recipe'}: "
            f"{str(e['msg']).removeprefix('Value error, ')}"
            for e in exc.errors(include_url=False)
        )
    return f"not JSON ({exc})"


def _no_floats(value: Any) -> Any:
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, list):
        return [_no_floats(v) for v in value]
    if isinstance(value, dict):
        return {k: _no_floats(v) for k, v in value.items()}
    return value
