"""The modelling protocols' schemas: `binning`, `lr_train`, `lr_predict`, `scorecard` (the
protocols themselves: node/mpc/modelling/).

Per-owner outputs: an output declared as `name.<org>` (a model part, a bin table) exists once per
owner, named `name.<owner>` in the job, goes to that owner alone, and the owner must hold an input
of the job; `OwnerOutputsSpec` checks that before the common shape rules, and that the dealer
receives no output.

Parameters with the shape (`job_problems`, run by the contract at RequestJob and by every node's
gate): the `label`, the `ids` and the recipe's columns are inputs of the job (so the label holder
is an input owner); lr_predict's `holder` holds an input and the label, and `evaluation` goes to it
alone. No float parameter takes inf or nan (`Params`). The `recipe` is validated at request
(alliance/recipe.py) and names columns and operations only: clip bounds are quantiles and one-hot
categories come from each owner's own rows, so no value of a member's rows reaches the ledger.
`min_bin_rows` is never below MIN_BIN_ROWS_FLOOR.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from pydantic import Field, field_validator

from alliance.protocols.psi import Normalization
from alliance.protocols.spec import ANY_TYPE, DealerRule, InputRule, JobShape, Params, ProtocolSpec
from alliance.recipe import Recipe
from alliance.refs import INPUT_REF

OWNER = "<org>"
CLASS_WEIGHT_MAX = 16.0
MIN_BIN_ROWS_FLOOR = 5
"""No binning job may let a bin hold fewer rows: its event count is revealed to the owner."""


@dataclasses.dataclass(frozen=True)
class OwnerOutputsSpec(ProtocolSpec):
    """A ProtocolSpec whose outputs may be declared per owner (`name.<org>`); its dealer, if any,
    receives no output."""

    def shape_problems(self, shape: JobShape) -> list[str]:
        problems: list[str] = []
        generic: dict[str, list[str]] = {}
        for name, recipients in shape.outputs.items():
            base, dot, owner = name.partition(".")
            if dot and f"{base}.{OWNER}" in self.outputs:
                if list(recipients) != [owner]:
                    problems.append(
                        f"output {name} goes to {owner} alone, not to "
                        f"{', '.join(recipients) or 'nobody'}"
                    )
                if owner not in shape.owners:
                    problems.append(f"output {name} names {owner}, who holds no input of the job")
                generic.setdefault(f"{base}.{OWNER}", []).extend(recipients)
            else:
                generic[name] = list(recipients)
        problems += _dealer_receives_nothing(shape)
        return problems + super().shape_problems(dataclasses.replace(shape, outputs=generic))


class ModellingParams(Params):
    """What every modelling job on aligned rows takes."""

    ids: str = Field(
        default="",
        description="comma-separated id columns (ORG/DATASET:COLUMN), one per data party, when the "
        "rows are aligned by a PSI job's intersection",
    )
    alignment_job: str = Field(
        default="",
        description="the completed psi job whose intersection (sent to every party) orders the "
        "rows; required with ids",
    )
    normalize: str = Field(default="trim,nfc", description="the alignment PSI job's normalisation")
    recipe: str = Field(
        default="",
        description="local preprocessing recipe, JSON: {\"steps\": [{\"column\": ..., \"fill\": "
        "mean|median|zero, \"clip_quantiles\": [lo, hi], \"standardize\": true, \"one_hot\": "
        "true}]}; column names and operations only: bounds and categories come from each "
        "owner's own rows (alliance/recipe.py)",
    )

    @field_validator("normalize")
    @classmethod
    def _normalize(cls, text: str) -> str:
        Normalization.parse(text)  # ValueError naming the accepted steps
        return text

    @field_validator("recipe")
    @classmethod
    def _recipe(cls, text: str) -> str:
        Recipe.parse(text)  # ProtocolSpecError (a ValueError) saying what is wrong
        return text

    @field_validator("ids")
    @classmethod
    def _ids(cls, text: str) -> str:
        refs = id_refs(text)
        if text.strip() and not refs:
            raise ValueError("names no id column; give ORG/DATASET:COLUMN,... or leave it out")
        for ref in refs:
            _check_ref(ref)
        owners = [ref.split("/", 1)[0] for ref in refs]
        if len(set(owners)) != len(owners):
            raise ValueError("names two id columns of one member; give one per data party")
        return text

    @field_validator("label", check_fields=False)
    @classmethod
    def _label(cls, text: str) -> str:
        if text:
            _check_ref(text)
        return text


def id_refs(text: str) -> list[str]:
    """The id column references of an `ids` parameter."""
    return [part.strip() for part in text.split(",") if part.strip()]


def _check_ref(text: str) -> None:
    if not INPUT_REF.match(text):
        raise ValueError(f"{text!r} is not a column reference ORG/DATASET:COLUMN")


class BinningParams(ModellingParams):
    """Parameters of a binning job."""

    label: str = Field(description="the label column, ORG/DATASET:COLUMN, values 0 and 1")
    method: Literal["quantile", "width", "chimerge", "tree"] = Field(
        default="quantile",
        description="equal-frequency, equal-width, or chi-merge or decision-tree (Gini, "
        "best-first) merging of quantile fine bins",
    )
    bins: int = Field(default=10, ge=2, le=64, description="bins per numeric column (2..64)")
    init_bins: int = Field(default=32, ge=2, le=256,
                           description="chimerge's and tree's fine bins (2..256)")
    min_bin_rows: int = Field(
        default=MIN_BIN_ROWS_FLOOR, ge=MIN_BIN_ROWS_FLOOR,
        description=f"fewest rows a bin may have, at least {MIN_BIN_ROWS_FLOOR} (smaller numeric "
        "bins merge with a neighbour; a rarer category or missing-value bin is refused): a bin's "
        "event count is revealed to the column's owner",
    )


class LrTrainParams(ModellingParams):
    """Parameters of an lr_train job."""

    label: str = Field(description="the label column, ORG/DATASET:COLUMN, values 0 and 1")
    bins_job: str = Field(default="", description="the completed binning job whose WOE bins "
                          "transform the features (each party its own bins.<org>)")
    epochs: int = Field(default=10, ge=1, le=1000, description="passes over the training rows")
    batch_size: int = Field(default=1024, ge=16, le=1 << 20, description="rows per mini-batch")
    learning_rate: float = Field(default=0.5, gt=0, le=100, description="initial step size")
    schedule: Literal["constant", "invscaling", "step"] = Field(
        default="constant",
        description="learning rate per epoch: constant, lr/(1+decay*epoch), lr*decay^epoch",
    )
    decay: float = Field(default=0.5, ge=0, description="the schedule's decay")
    l2: float = Field(default=0.0, ge=0, description="L2 penalty on the coefficients")
    validation_fraction: float = Field(
        default=0.2, ge=0, lt=0.9, description="rows held out for early stopping (0: none)"
    )
    patience: int = Field(default=2, ge=1, description="epochs without improvement to stop")
    tol: float = Field(default=1e-6, ge=0, description="smallest validation-loss improvement")
    seed: int = Field(default=0, ge=0, description="public seed of the split and the batches")
    scale_bits: int = Field(default=16, ge=8, le=20, description="fixed-point fraction bits")
    sigmoid: Literal["t1"] = Field(default="t1", description="t1: 0.5 + z/4 (Taylor, order 1)")
    class_weight: tuple[float, float] | None = Field(
        default=None,
        description=f"W0,W1: residual weights of label-0 and label-1 rows, each in "
        f"(0, {CLASS_WEIGHT_MAX:g}]",
    )

    @field_validator("class_weight", mode="before")
    @classmethod
    def _weights(cls, value: object) -> object:
        if value in (None, ""):
            return None
        if not isinstance(value, str):
            return value
        try:
            w0, w1 = (float(part) for part in value.split(","))
        except ValueError:
            raise ValueError("is not two numbers W0,W1, e.g. 1,3") from None
        if not (0 < w0 <= CLASS_WEIGHT_MAX and 0 < w1 <= CLASS_WEIGHT_MAX):
            raise ValueError(f"each weight is in (0, {CLASS_WEIGHT_MAX:g}]")
        return (w0, w1)

    def weights(self) -> tuple[float, float] | None:
        return self.class_weight


class PredictParams(ModellingParams):
    """What every joint-prediction job takes (lr_predict, gbdt_predict)."""

    holder: str = Field(description="the org holding the model's intercept (training's label "
                        "holder)")
    label: str = Field(default="", description="the label column, for the evaluation output")
    threshold: float = Field(default=0.5, ge=0, le=1, description="confusion-matrix threshold")
    model_job: str = Field(default="", description="the completed lr_train job whose model "
                           "parts are used (each party its own model.<org>); required")


class LrPredictParams(PredictParams):
    """Parameters of an lr_predict job."""

    bins_job: str = Field(default="", description="the completed binning job whose WOE bins "
                          "transform the features (each party its own bins.<org>)")
    rows: Literal["all", "validation"] = Field(
        default="all",
        description="which aligned rows to score: all, or only the training job's validation "
        "split (rows it held out: an out-of-sample evaluation; needs the training's alignment)",
    )


class ScorecardParams(Params):
    """Parameters of a scorecard job."""

    model_job: str = Field(default="", description="the completed lr_train job whose model "
                           "parts are used (each party its own model.<org>); required")
    bins_job: str = Field(default="", description="the completed binning job whose WOE bins "
                          "transform the features (each party its own bins.<org>)")

    pdo: float = Field(default=50.0, gt=0, description="points to double the odds")
    base_score: float = Field(default=600.0, description="points at the base odds")
    base_odds: float = Field(default=1 / 19, gt=0,
                             description="event (bad) odds p/(1-p) at base_score")


def _dealer_holds_nothing(shape: JobShape) -> list[str]:
    problems = []
    if shape.dealer is not None and shape.dealer in shape.owners:
        problems.append(
            f"the dealer {shape.dealer} holds an input of the job; a dealer must hold none (with "
            "its own randomness it could unmask the others' data): name another member")
    return problems


def _dealer_receives_nothing(shape: JobShape) -> list[str]:
    received = sorted(name for name, orgs in shape.outputs.items() if shape.dealer in orgs)
    if shape.dealer is None or not received:
        return []
    return [f"the dealer {shape.dealer} would receive {', '.join(received)}; a dealer receives "
            "nothing (with its own randomness an output could unmask the others' data): send it "
            "to another member"]


def columns_problems(params: ModellingParams, shape: JobShape, label: str) -> list[str]:
    """The label, id and recipe columns a job's parameters name are inputs of the job."""
    refs = {i.ref for i in shape.inputs}
    problems = []
    if label and label not in refs:
        problems.append(f"the label {label} is not an input of the job; add it with --input "
                        f"{label} (the label holder is its owner)")
    for ref in id_refs(params.ids):
        if ref not in refs:
            problems.append(f"the id column {ref} (parameter ids) is not an input of the job; add "
                            f"it with --input {ref}")
        if ref == label:
            problems.append(f"{ref} is named both as the label and as an id column")
    for step in Recipe.parse(params.recipe).steps:
        if step.column not in refs:
            problems.append(f"the recipe has a step for {step.column}, which is not an input of "
                            "the job; remove the step or add the input")
    return problems


def _labelled_problems(params: Params, shape: JobShape) -> list[str]:
    """binning, lr_train: the label is one of the inputs (so its owner is an input owner)."""
    assert isinstance(params, BinningParams | LrTrainParams)
    return columns_problems(params, shape, params.label)


def predict_problems(params: Params, shape: JobShape) -> list[str]:
    """lr_predict, gbdt_predict: the intercept's (trees') holder holds an input, and holds the
    label; the evaluation goes to it alone, and needs the label."""
    assert isinstance(params, PredictParams)
    problems = columns_problems(params, shape, params.label)
    holder = params.holder
    if holder not in shape.owners:
        problems.append(f"holder {holder!r} holds no input of the job; name the training job's "
                        f"label holder, one of {', '.join(shape.owners) or 'nobody'}")
    if params.label and params.label.split("/", 1)[0] != holder:
        problems.append(f"the label {params.label} is not held by the holder {holder}; name its "
                        "owner as holder")
    if "evaluation" in shape.outputs:
        if list(shape.outputs["evaluation"]) != [holder]:
            problems.append(f"output evaluation goes to the label holder {holder} alone; request "
                            f"it with --output evaluation={holder}")
        if not params.label:
            problems.append("output evaluation needs the label parameter (the holder's label "
                            "column, an input of the job)")
    return problems


_ALIGNED = InputRule(min_inputs=2, column_types=ANY_TYPE,
                     summary="the label column and feature columns of one or more members")

BINNING = OwnerOutputsSpec(
    name="binning",
    summary="binning of each member's columns with WOE/IV from another member's labels",
    params=BinningParams,
    outputs={"bins.<org>": "the owner's bin tables: counts, events, WOE, IV",
             "iv": "the IV of every feature"},
    inputs=_ALIGNED,
    dealer=DealerRule.REQUIRED,
    extra_problems=_dealer_holds_nothing,
    job_problems=_labelled_problems,
)

LR_TRAIN = OwnerOutputsSpec(
    name="lr_train",
    summary="vertical logistic regression by secure mini-batch SGD; the model stays split",
    params=LrTrainParams,
    outputs={"model.<org>": "the owner's coefficients (and the intercept at the label holder)"},
    inputs=_ALIGNED,
    dealer=DealerRule.REQUIRED,
    extra_problems=_dealer_holds_nothing,
    job_problems=_labelled_problems,
)

LR_PREDICT = ProtocolSpec(
    name="lr_predict",
    summary="joint scores of a split logistic regression, and its evaluation",
    params=LrPredictParams,
    outputs={"scores": "the probability of every aligned row",
             "evaluation": "AUC, KS, lift/gain by decile, confusion (to the label holder)"},
    inputs=InputRule(min_inputs=1, column_types=ANY_TYPE,
                     summary="the model's feature columns (and the label, to evaluate)"),
    dealer=DealerRule.NONE,
    job_problems=predict_problems,
)

SCORECARD = OwnerOutputsSpec(
    name="scorecard",
    summary="points per bin from WOE bins and a split logistic regression",
    params=ScorecardParams,
    outputs={"scorecard.<org>": "the owner's points table (base points at the intercept's "
             "holder)"},
    inputs=InputRule(min_inputs=0, column_types=ANY_TYPE,
                     summary="no columns: each member's model part and bin tables"),
    dealer=DealerRule.NONE,
)
