"""The contract refuses gbdt jobs a node would have to refuse: parameters out of range or
meaningless, a shape without a second member's features, a dealer, and a prediction whose
model_job is not a completed gbdt_train job of the same parties. Each tried on the real contract
over the dict-backed stub, refused at request before anything is recorded."""

from __future__ import annotations

import json
from typing import Any

import pytest
from contract_helpers import Alliance
from link_helpers import DATA, IDS, LABEL, body, chain, complete, ledger, psi

MODELS = {"model.bank": ["bank"], "model.telecom": ["telecom"]}


def gbdt_train_body(alignment: str, **params: str) -> str:
    return body("gbdt_train", DATA, MODELS,
                {"label": LABEL, "ids": IDS, "alignment_job": alignment, **params})


def gbdt_predict_body(alignment: str, model: str, **params: str) -> str:
    return body("gbdt_predict", DATA, {"scores": ["bank"], "evaluation": ["bank"]},
                {"label": LABEL, "holder": "bank", "ids": IDS, "alignment_job": alignment,
                 "model_job": model, **params})


@pytest.fixture
def a() -> Alliance:
    return ledger()


@pytest.fixture
def trained(a: Alliance) -> dict[str, dict[str, Any]]:
    aligned = psi(a, ["bank", "telecom"])
    model = complete(a, a.ok("RequestJob", gbdt_train_body(aligned["id"]), by="bank"))
    return {"psi": aligned, "gbdt_train": model}


def test_a_well_formed_gbdt_train_job_is_accepted(a: Alliance) -> None:
    aligned = psi(a, ["bank", "telecom"])
    job = a.ok("RequestJob", gbdt_train_body(aligned["id"], n_trees="100", max_depth="5",
                                             subsample="0.8"), by="bank")
    assert job["state"] == "REQUESTED" and job["dealer"] is None


@pytest.mark.parametrize(("name", "value", "says"), [
    ("max_depth", "11", "less than or equal to 10"),
    ("n_trees", "0", "greater than or equal to 1"),
    ("learning_rate", "0", "greater than 0"),
    ("subsample", "1.5", "less than or equal to 1"),
    ("max_bin", "257", "less than or equal to 256"),
    ("reg_lambda", "nan", "reg_lambda='nan'"),
    ("gamma", "inf", "gamma='inf'"),
    ("objective", "poisson", "is not one of logistic, squared"),
    ("trees", "5", "gbdt_train has no parameter 'trees'"),
])
def test_gbdt_train_parameters_out_of_range_are_refused(a: Alliance, name: str, value: str,
                                                        says: str) -> None:
    aligned = psi(a, ["bank", "telecom"])
    response = a.refused("RequestJob", gbdt_train_body(aligned["id"], **{name: value}),
                         error="InvalidArgument")
    assert says in response.message


def test_gbdt_train_with_a_dealer_is_refused(a: Alliance) -> None:
    aligned = psi(a, ["bank", "telecom"])
    raw = json.loads(gbdt_train_body(aligned["id"]))
    raw["dealer"] = "platform"
    response = a.refused("RequestJob", json.dumps(raw), error="InvalidArgument")
    assert "gbdt_train needs no dealer" in response.message


def test_gbdt_train_without_another_members_features_is_refused(a: Alliance) -> None:
    response = a.refused("RequestJob", body(
        "gbdt_train", ["bank/loans:bad", "bank/loans:x"], {"model.bank": ["bank"]},
        {"label": LABEL}), error="InvalidArgument")
    assert "feature columns of at least one member besides the label holder" in response.message


def test_a_model_part_to_another_member_is_refused(a: Alliance) -> None:
    response = a.refused("RequestJob", body(
        "gbdt_train", DATA, {"model.bank": ["bank"], "model.telecom": ["bank"]},
        {"label": LABEL}), error="InvalidArgument")
    assert "output model.telecom goes to telecom alone" in response.message


def test_gbdt_predict_on_a_completed_gbdt_train_is_accepted(
        a: Alliance, trained: dict[str, dict[str, Any]]) -> None:
    job = a.ok("RequestJob", gbdt_predict_body(trained["psi"]["id"],
                                               trained["gbdt_train"]["id"]), by="bank")
    assert job["state"] == "REQUESTED"


def test_gbdt_predict_on_an_lr_train_job_is_refused(a: Alliance) -> None:
    jobs = chain(a)
    response = a.refused("RequestJob", gbdt_predict_body(jobs["psi"]["id"],
                                                         jobs["lr_train"]["id"]),
                         error="InvalidArgument")
    assert "is a lr_train job, not gbdt_train" in response.message


def test_lr_predict_on_a_gbdt_train_job_is_refused(
        a: Alliance, trained: dict[str, dict[str, Any]]) -> None:
    raw = json.loads(gbdt_predict_body(trained["psi"]["id"], trained["gbdt_train"]["id"]))
    raw["protocol"] = "lr_predict"
    response = a.refused("RequestJob", json.dumps(raw), error="InvalidArgument")
    assert "is a gbdt_train job, not lr_train" in response.message


def test_gbdt_predict_on_a_training_not_completed_is_refused(a: Alliance) -> None:
    aligned = psi(a, ["bank", "telecom"])
    model = a.ok("RequestJob", gbdt_train_body(aligned["id"]), by="bank")
    response = a.refused("RequestJob", gbdt_predict_body(aligned["id"], model["id"]),
                         error="InvalidArgument")
    assert "not COMPLETED" in response.message


def test_gbdt_predict_without_a_model_job_is_refused(a: Alliance) -> None:
    aligned = psi(a, ["bank", "telecom"])
    response = a.refused("RequestJob", gbdt_predict_body(aligned["id"], ""),
                         error="InvalidArgument")
    assert "must name the job it builds on in its model_job" in response.message
