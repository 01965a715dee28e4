"""RequestJob refuses modelling jobs a node would have to refuse: parameters that do not fit the
job's shape, values that mean nothing (inf, nan), and recipes that would put a member's values on
the ledger. Each is refused at request, before anything is recorded."""

from __future__ import annotations

import json

import pytest
from contract_helpers import Alliance, founded, job_request

LABEL = "bank/customers:amount"
FEATURE = "telecom/subscribers:amount"
INPUTS = [LABEL, FEATURE]
BINNING = {"protocol": "binning", "dealer": "platform",
           "outputs": {"bins.telecom": ["telecom"], "iv": ["bank"]}}
LR_TRAIN = {"protocol": "lr_train", "dealer": "platform",
            "outputs": {"model.bank": ["bank"], "model.telecom": ["telecom"]}}
LR_PREDICT = {"protocol": "lr_predict", "outputs": {"scores": ["bank"]}}


@pytest.fixture
def a() -> Alliance:
    return founded()


def request(a: Alliance, kind: dict, parameters: dict[str, str], inputs: list[str] | None = None,
            outputs: dict[str, list[str]] | None = None) -> str:
    body = {**kind, "parameters": parameters}
    if outputs is not None:
        body["outputs"] = outputs
    response = a.refused("RequestJob", job_request(inputs or INPUTS, **body), by="bank",
                         error="InvalidArgument")
    return response.message


def test_a_well_formed_binning_job_is_accepted(a: Alliance) -> None:
    recipe = json.dumps({"steps": [{"column": FEATURE, "fill": "median",
                                    "clip_quantiles": [0.01, 0.99]}]})
    job = a.ok("RequestJob", job_request(INPUTS, parameters={"label": LABEL, "recipe": recipe},
                                         **{k: v for k, v in BINNING.items()}), by="bank")
    assert job["state"] in ("REQUESTED", "APPROVED")


def test_a_label_that_is_not_an_input_is_refused(a: Alliance) -> None:
    says = request(a, BINNING, {"label": "platform/users:amount"})
    assert "the label platform/users:amount is not an input of the job" in says


def test_a_label_that_is_not_a_column_reference_is_refused(a: Alliance) -> None:
    says = request(a, LR_TRAIN, {"label": "amount"})
    assert "label='amount'" in says and "not a column reference ORG/DATASET:COLUMN" in says


def test_ids_that_are_not_column_references_are_refused(a: Alliance) -> None:
    says = request(a, BINNING, {"label": LABEL, "ids": "x"})
    assert "ids='x'" in says and "not a column reference" in says


def test_id_columns_that_are_not_inputs_are_refused(a: Alliance) -> None:
    says = request(a, BINNING, {"label": LABEL, "ids": "bank/customers:id,telecom/subscribers:id"})
    assert "the id column bank/customers:id (parameter ids) is not an input of the job" in says


@pytest.mark.parametrize("recipe", [
    "{not json", json.dumps({"steps": [{"column": "x"}]}),
    json.dumps({"steps": [{"column": FEATURE, "fill": "mode"}]}),
])
def test_a_malformed_recipe_is_refused_at_request(a: Alliance, recipe: str) -> None:
    says = request(a, LR_TRAIN, {"label": LABEL, "recipe": recipe})
    assert "is not a valid preprocessing recipe" in says


@pytest.mark.parametrize(("step", "says"), [
    ({"clip": [0, 120000]}, "clip bounds are values from a member's rows"),
    ({"one_hot": ["gold", "silver"]}, "categories are values from a member's rows"),
])
def test_a_recipe_carrying_row_values_is_refused(a: Alliance, step: dict, says: str) -> None:
    recipe = json.dumps({"steps": [{"column": FEATURE, **step}]})
    assert says in request(a, LR_TRAIN, {"label": LABEL, "recipe": recipe})


def test_a_recipe_step_for_a_column_outside_the_job_is_refused(a: Alliance) -> None:
    recipe = json.dumps({"steps": [{"column": "platform/users:amount", "standardize": True}]})
    says = request(a, LR_TRAIN, {"label": LABEL, "recipe": recipe})
    assert "a step for platform/users:amount, which is not an input of the job" in says


@pytest.mark.parametrize("name", ["l2", "tol", "decay", "learning_rate"])
@pytest.mark.parametrize("value", ["inf", "nan", "-inf"])
def test_lr_train_takes_no_infinite_or_nan_parameter(a: Alliance, name: str, value: str) -> None:
    says = request(a, LR_TRAIN, {"label": LABEL, name: value})
    assert f"{name}={value!r}" in says


@pytest.mark.parametrize(("name", "value"), [("base_score", "nan"), ("pdo", "inf"),
                                             ("base_odds", "inf")])
def test_scorecard_takes_no_infinite_or_nan_parameter(a: Alliance, name: str, value: str
                                                      ) -> None:
    kind = {"protocol": "scorecard", "outputs": {"scorecard.bank": ["bank"]}}
    says = request(a, kind, {name: value, "model_job": "job-0", "bins_job": "job-0"})
    assert f"{name}={value!r}" in says


def test_min_bin_rows_below_the_floor_is_refused(a: Alliance) -> None:
    says = request(a, BINNING, {"label": LABEL, "min_bin_rows": "1"})
    assert "min_bin_rows='1'" in says and "greater than or equal to 5" in says


def test_iv_to_the_dealer_is_refused(a: Alliance) -> None:
    says = request(a, BINNING, {"label": LABEL},
                   outputs={"bins.telecom": ["telecom"], "iv": ["platform"]})
    assert "the dealer platform would receive iv; a dealer receives nothing" in says


def test_an_intercept_holder_without_inputs_is_refused(a: Alliance) -> None:
    says = request(a, LR_PREDICT, {"holder": "nobody", "model_job": "job-0"})
    assert "holder 'nobody' holds no input of the job" in says


def test_an_evaluation_to_another_member_than_the_label_holder_is_refused(a: Alliance) -> None:
    says = request(a, LR_PREDICT, {"holder": "bank", "label": LABEL, "model_job": "job-0"},
                   outputs={"scores": ["bank"], "evaluation": ["telecom"]})
    assert "output evaluation goes to the label holder bank alone" in says


def test_an_evaluation_without_a_label_is_refused(a: Alliance) -> None:
    says = request(a, LR_PREDICT, {"holder": "bank", "model_job": "job-0"},
                   outputs={"evaluation": ["bank"]})
    assert "output evaluation needs the label parameter" in says


def test_a_label_of_another_member_than_the_holder_is_refused(a: Alliance) -> None:
    says = request(a, LR_PREDICT, {"holder": "telecom", "label": LABEL, "model_job": "job-0"})
    assert "the label bank/customers:amount is not held by the holder telecom" in says
