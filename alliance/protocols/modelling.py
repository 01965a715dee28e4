"""The modelling protocols' schemas: `binning`, `lr_train`, `lr_predict`, `scorecard` (the
protocols themselves: node/mpc/modelling/).

Per-owner outputs: an output declared as `name.<org>` (a model part, a bin table) exists once per
owner, named `name.<owner>` in the job, goes to that owner alone, and the owner must hold an input
of the job; `OwnerOutputsSpec` checks that before the common shape rules.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from pydantic import Field, field_validator

from alliance.protocols.psi import Normalization
from alliance.protocols.spec import ANY_TYPE, DealerRule, InputRule, JobShape, Params, ProtocolSpec

OWNER = "<org>"
CLASS_WEIGHT_MAX = 16.0


@dataclasses.dataclass(frozen=True)
class OwnerOutputsSpec(ProtocolSpec):
    """A ProtocolSpec whose outputs may be declared per owner (`name.<org>`)."""

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
        return problems + super().shape_problems(dataclasses.replace(shape, outputs=generic))


class _Modelling(Params):
    """What every modelling job on aligned rows takes."""

    ids: str = Field(
        default="",
        description="comma-separated id columns (ORG/DATASET:COLUMN), one per data party, when the "
        "rows are aligned by a PSI job's intersection",
    )
    normalize: str = Field(default="trim,nfc", description="the alignment PSI job's normalisation")
    recipe: str = Field(
        default="",
        description="local preprocessing recipe, JSON: {\"steps\": [{\"column\": ..., \"fill\": "
        "mean|median|zero, \"clip\": [lo, hi], \"standardize\": true, \"one_hot\": [...]}]}",
    )

    @field_validator("normalize")
    @classmethod
    def _normalize(cls, text: str) -> str:
        Normalization.parse(text)  # ValueError naming the accepted steps
        return text


class BinningParams(_Modelling):
    """Parameters of a binning job."""

    label: str = Field(description="the label column, ORG/DATASET:COLUMN, values 0 and 1")
    method: Literal["quantile", "width", "chimerge"] = Field(
        default="quantile",
        description="equal-frequency, equal-width, or chi-merge of quantile fine bins",
    )
    bins: int = Field(default=10, ge=2, le=64, description="bins per numeric column (2..64)")
    init_bins: int = Field(default=32, ge=2, le=256, description="chimerge's fine bins (2..256)")
    min_bin_rows: int = Field(
        default=5, ge=1,
        description="fewest rows a bin may have (smaller numeric bins merge with a neighbour; a "
        "rarer category or missing-value bin is refused): a bin's event count is revealed to "
        "the column's owner",
    )


class LrTrainParams(_Modelling):
    """Parameters of an lr_train job."""

    label: str = Field(description="the label column, ORG/DATASET:COLUMN, values 0 and 1")
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


class LrPredictParams(_Modelling):
    """Parameters of an lr_predict job."""

    holder: str = Field(description="the org holding the model's intercept (training's label "
                        "holder)")
    label: str = Field(default="", description="the label column, for the evaluation output")
    threshold: float = Field(default=0.5, ge=0, le=1, description="confusion-matrix threshold")


class ScorecardParams(Params):
    """Parameters of a scorecard job."""

    pdo: float = Field(default=50.0, gt=0, description="points to double the odds")
    base_score: float = Field(default=600.0, description="points at the base odds")
    base_odds: float = Field(default=1 / 19, gt=0,
                             description="event (bad) odds p/(1-p) at base_score")


def _dealer_holds_nothing(shape: JobShape) -> list[str]:
    if shape.dealer is not None and shape.dealer in shape.owners:
        return [f"the dealer {shape.dealer} holds an input of the job; a dealer must hold none "
                "(with its own randomness it could unmask the others' data): name another member"]
    return []


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
)

LR_TRAIN = OwnerOutputsSpec(
    name="lr_train",
    summary="vertical logistic regression by secure mini-batch SGD; the model stays split",
    params=LrTrainParams,
    outputs={"model.<org>": "the owner's coefficients (and the intercept at the label holder)"},
    inputs=_ALIGNED,
    dealer=DealerRule.REQUIRED,
    extra_problems=_dealer_holds_nothing,
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
