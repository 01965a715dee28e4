"""The modelling protocols' specs: what the contract and the gate refuse before anything runs."""

from __future__ import annotations

import pytest

from alliance.errors import ProtocolSpecError
from alliance.protocols import BINNING, LR_PREDICT, LR_TRAIN, PROTOCOLS, JobShape, ShapeInput
from node.mpc import PROTOCOLS as NODE_PROTOCOLS

INPUTS = (ShapeInput("bank/loans:bad", "bank", "integer"),
          ShapeInput("telecom/subs:tenure", "telecom", "decimal"))


def shape(outputs: dict[str, tuple[str, ...]], dealer: str | None = "platform") -> JobShape:
    return JobShape(INPUTS, outputs, dealer)


def test_every_modelling_protocol_has_a_spec_and_a_node_protocol() -> None:
    for name in ("binning", "lr_train", "lr_predict", "scorecard"):
        assert name in PROTOCOLS and name in NODE_PROTOCOLS


def test_per_owner_outputs_fit() -> None:
    job = shape({"model.bank": ("bank",), "model.telecom": ("telecom",)})
    assert LR_TRAIN.shape_problems(job) == []
    assert BINNING.shape_problems(shape({"bins.telecom": ("telecom",), "iv": ("bank",)})) == []


def test_a_model_part_to_another_member_is_refused() -> None:
    problems = LR_TRAIN.shape_problems(shape({"model.telecom": ("bank",)}))
    assert problems == ["output model.telecom goes to telecom alone, not to bank"]


def test_a_part_for_a_member_without_inputs_is_refused() -> None:
    problems = LR_TRAIN.shape_problems(shape({"model.platform": ("platform",)}, dealer=None))
    assert "output model.platform names platform, who holds no input of the job" in problems


def test_an_unknown_output_is_refused() -> None:
    assert "has no output 'weights'" in LR_TRAIN.shape_problems(shape({"weights": ("bank",)}))[0]


def test_training_needs_a_dealer_and_prediction_none() -> None:
    assert LR_TRAIN.shape_problems(shape({}, dealer=None)) == [
        "lr_train needs a dealer; name a member with --dealer"]
    assert LR_PREDICT.shape_problems(shape({"scores": ("bank",)})) == [
        "lr_predict needs no dealer; leave the dealer out"]


def test_parameters_are_checked_with_what_to_write() -> None:
    params = LR_TRAIN.parse_params({"label": "bank/loans:bad", "class_weight": "1, 3",
                                    "epochs": "5"})
    assert params.class_weight == (1.0, 3.0) and params.epochs == 5
    with pytest.raises(ProtocolSpecError, match="class_weight='1;3': is not two numbers"):
        LR_TRAIN.parse_params({"label": "bank/loans:bad", "class_weight": "1;3"})
    with pytest.raises(ProtocolSpecError, match="method='dt' is not one of quantile, width"):
        BINNING.parse_params({"label": "bank/loans:bad", "method": "dt"})
    with pytest.raises(ProtocolSpecError, match="lr_train needs parameter label"):
        LR_TRAIN.parse_params({})


def test_an_unknown_alignment_normalisation_is_refused() -> None:
    with pytest.raises(ProtocolSpecError, match="unknown normalisation step"):
        BINNING.parse_params({"label": "bank/loans:bad", "normalize": "trim,shout"})


def test_a_dealer_that_holds_an_input_is_refused() -> None:
    problems = BINNING.shape_problems(shape({"iv": ("bank",)}, dealer="telecom"))
    assert problems == ["the dealer telecom holds an input of the job; a dealer must hold none "
                        "(with its own randomness it could unmask the others' data): name another "
                        "member"]
