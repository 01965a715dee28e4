"""The vertical gradient-boosting protocols' schemas: `gbdt_train` and `gbdt_predict` (the
protocols themselves: node/mpc/modelling/gbdt/).

`gbdt_train` takes the label column and feature columns of two or more members (the label holder
is the active party; every other input owner is a passive party), no dealer, and delivers
`model.<org>` to each owner alone (its part of the split model). `gbdt_predict` takes the model's
feature columns (and the label, to evaluate) and names the training job in `model_job`.

Parameters are checked here at request (the contract) and again at every node's gate: the label,
ids and recipe columns are inputs of the job (modelling.py's rules), no float is inf or nan, and
each bound below says why it is there.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from alliance.protocols.modelling import (
    ModellingParams,
    OwnerOutputsSpec,
    PredictParams,
    columns_problems,
    predict_problems,
)
from alliance.protocols.spec import ANY_TYPE, DealerRule, InputRule, JobShape, Params, ProtocolSpec

MAX_DEPTH = 10
"""Node ids are heap indices (2^(depth+1) - 1 nodes at most per tree)."""
MAX_BIN = 256
"""Bins per feature travel as one byte per row and feature."""


class GbdtTrainParams(ModellingParams):
    """Parameters of a gbdt_train job."""

    label: str = Field(description="the label column, ORG/DATASET:COLUMN (0/1 for logistic)")
    bins_job: str = Field(default="", description="the completed binning job whose bins each "
                          "party uses for its features (else each bins its own by quantile, "
                          "max_bin)")
    objective: Literal["logistic", "squared"] = Field(
        default="logistic", description="logistic (binary label) or squared error")
    n_trees: int = Field(default=50, ge=1, le=1000, description="boosting rounds")
    max_depth: int = Field(default=5, ge=1, le=MAX_DEPTH, description="depth of each tree")
    learning_rate: float = Field(default=0.3, gt=0, le=1, description="shrinkage (eta)")
    min_child_weight: float = Field(default=1.0, ge=0, description="least hessian sum of a child")
    reg_lambda: float = Field(default=1.0, ge=0, description="L2 penalty on leaf values (lambda)")
    gamma: float = Field(default=0.0, ge=0, description="least gain of a split")
    subsample: float = Field(default=1.0, gt=0, le=1, description="rows sampled per tree")
    colsample: float = Field(default=1.0, gt=0, le=1, description="features sampled per tree")
    validation_fraction: float = Field(
        default=0.0, ge=0, lt=0.9, description="rows held out for early stopping (0: none)")
    patience: int = Field(default=5, ge=1, description="trees without a better validation loss "
                          "before stopping")
    seed: int = Field(default=0, ge=0, description="public seed of the split and the samples")
    max_bin: int = Field(default=16, ge=2, le=MAX_BIN, description="quantile bins per numeric "
                         "feature when no bins_job is named")
    scale_bits: int = Field(default=20, ge=8, le=24,
                            description="fixed-point fraction bits of gradients and hessians "
                            "(logistic: with rows * 2^scale_bits < 2^31 they travel packed, "
                            "half the traffic)")


class GbdtPredictParams(PredictParams):
    """Parameters of a gbdt_predict job."""

    holder: str = Field(description="the org holding the trees and leaf values (training's label "
                        "holder)")
    model_job: str = Field(default="", description="the completed gbdt_train job whose model "
                           "parts are used (each party its own model.<org>); required")


def _train_problems(params: Params, shape: JobShape) -> list[str]:
    """The label is an input (so its owner is the active party) and some other member holds
    features (a one-party model needs no protocol)."""
    assert isinstance(params, GbdtTrainParams)
    problems = columns_problems(params, shape, params.label)
    holder = params.label.split("/", 1)[0]
    if not [o for o in shape.owners if o != holder]:
        problems.append("gbdt_train needs feature columns of at least one member besides the "
                        f"label holder {holder}; add them with --input")
    return problems


GBDT_TRAIN = OwnerOutputsSpec(
    name="gbdt_train",
    summary="vertical gradient-boosted trees (SecureBoost-class); the model stays split",
    params=GbdtTrainParams,
    outputs={"model.<org>": "the owner's part: its splits' thresholds and feature importance "
             "(the trees and leaf values at the label holder)"},
    inputs=InputRule(min_inputs=2, column_types=ANY_TYPE,
                     summary="the label column and feature columns of two or more members"),
    dealer=DealerRule.NONE,
    job_problems=_train_problems,
)

GBDT_PREDICT = ProtocolSpec(
    name="gbdt_predict",
    summary="joint scores of a split gradient-boosted model, and its evaluation",
    params=GbdtPredictParams,
    outputs={"scores": "the score of every aligned row",
             "evaluation": "AUC, KS, lift/gain by decile, confusion (to the label holder)"},
    inputs=InputRule(min_inputs=1, column_types=ANY_TYPE,
                     summary="the model's feature columns (and the label, to evaluate)"),
    dealer=DealerRule.NONE,
    job_problems=predict_problems,
)
