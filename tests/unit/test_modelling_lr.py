"""`lr_train` over the in-memory transport: the same SGD in the clear is its exact oracle
(coefficients within 1e-5: fixed point 2^-16), scikit-learn's LogisticRegression its quality
oracle (AUC within 0.005)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from node.errors import ProtocolAborted, ProtocolError
from node.mpc.modelling import logistic
from node.mpc.modelling.binning_protocol import BinningProtocol
from node.mpc.modelling.features import WOE_KEY
from node.mpc.modelling.logistic import ModelPart
from node.mpc.modelling.lr_train import LrTrainProtocol, make_plan
from node.mpc.modelling.params import LrTrainParams
from node.mpc.modelling.session import Session
from tests.unit.modelling_helpers import (
    DEALER,
    LABEL,
    germancredit,
    job_for,
    run_all,
    run_with_abort,
    synthetic,
)

TWO = {"model.bank": ("bank",), "model.telecom": ("telecom",)}


def clear_matrix(inputs: dict) -> tuple[np.ndarray, np.ndarray]:
    """Every party's features side by side in sorted party order, and the label."""
    cols = [v for p in sorted(inputs) for k, v in inputs[p].items() if k != LABEL]
    return np.column_stack(cols), inputs["bank"][LABEL]


def parts(results: dict) -> tuple[np.ndarray, float]:
    coefs: list[float] = []
    intercept = 0.0
    for party in sorted(results):
        for name, data in results[party].outputs.items():
            part = ModelPart.from_bytes(data)
            assert name == f"model.{party}" and part.owner == party
            coefs += part.coefficients
            intercept = part.intercept if part.intercept is not None else intercept
    return np.array(coefs), intercept


async def train(inputs: dict, params: dict[str, str], outputs: dict = TWO) -> dict:
    job = job_for("lr_train", inputs, {"label": LABEL, **params}, outputs)
    return await run_all(LrTrainProtocol(), job, inputs)


@pytest.mark.parametrize("params", [
    {"epochs": "4", "batch_size": "128", "learning_rate": "0.5"},
    {"epochs": "5", "batch_size": "100", "learning_rate": "1.0", "schedule": "invscaling",
     "l2": "0.01", "validation_fraction": "0"},
    {"epochs": "30", "batch_size": "64", "learning_rate": "2.0", "schedule": "step",
     "decay": "0.9", "patience": "1", "tol": "0.0001"},
    {"epochs": "3", "batch_size": "128", "learning_rate": "0.5", "class_weight": "0.5,3"},
])
async def test_secure_training_equals_the_same_sgd_in_the_clear(params: dict[str, str]) -> None:
    inputs = synthetic(4000, 3, 4)
    results = await train(inputs, params)
    coef, intercept = parts(results)
    x, y = clear_matrix(inputs)
    w, b0, losses = logistic.reference_sgd(x, y, LrTrainParams(label=LABEL, **params))
    assert np.abs(coef - w).max() < 1e-5 and abs(intercept - b0) < 1e-5
    mine = ModelPart.from_bytes(results["bank"].outputs["model.bank"])
    assert mine.validation_loss is not None
    assert np.allclose(mine.validation_loss, losses, atol=1e-5)
    assert mine.epochs_run == (len(losses) or int(params["epochs"]))


async def test_auc_within_0_005_of_scikit_learn_and_coefficients_aligned() -> None:
    inputs = synthetic(20000, 4, 6, seed=11)
    results = await train(inputs, {"epochs": "10", "batch_size": "256", "learning_rate": "0.5"})
    coef, intercept = parts(results)
    x, y = clear_matrix(inputs)
    reference = LogisticRegression(C=1e6, max_iter=2000).fit(x, y)
    ours = roc_auc_score(y, x @ coef + intercept)
    theirs = roc_auc_score(y, reference.decision_function(x))
    assert abs(ours - theirs) <= 0.005
    # t1 fits the squared loss: coefficients are scikit-learn's up to scale (cosine >= 0.99).
    cosine = coef @ reference.coef_[0] / np.linalg.norm(coef) / np.linalg.norm(reference.coef_[0])
    assert cosine >= 0.99


async def test_three_data_parties_a_dealer_and_class_weights() -> None:
    inputs = synthetic(3000, 2, 3)
    rng = np.random.default_rng(1)
    inputs["retail"] = {"retail/baskets:r0": rng.normal(size=3000),
                        "retail/baskets:r1": inputs["telecom"]["telecom/subs:t0"] * 0.5}
    outputs = {**TWO, "model.retail": ("retail",)}
    params = {"epochs": "3", "batch_size": "128", "learning_rate": "0.5", "class_weight": "1,2.5"}
    results = await train(inputs, params, outputs)
    coef, intercept = parts(results)
    x, y = clear_matrix(inputs)
    w, b0, _ = logistic.reference_sgd(x, y, LrTrainParams(label=LABEL, **params))
    assert np.abs(coef - w).max() < 1e-5 and abs(intercept - b0) < 1e-5
    assert results[DEALER].outputs == {}


async def test_germancredit_on_woe_features_matches_scikit_learn_auc() -> None:
    inputs, _ = germancredit()
    bins_job = job_for("binning", inputs, {"label": LABEL, "bins": "5"},
                       {"bins.bank": ("bank",), "bins.telecom": ("telecom",)})
    binned = await run_all(BinningProtocol(), bins_job, inputs)
    for party in ("bank", "telecom"):
        data = binned[party].outputs[f"bins.{party}"]
        inputs[party][WOE_KEY] = np.frombuffer(data, dtype=np.uint8)
    results = await train(inputs, {"epochs": "40", "batch_size": "64", "learning_rate": "0.3",
                                   "validation_fraction": "0"})
    coef, intercept = parts(results)
    bank = ModelPart.from_bytes(results["bank"].outputs["model.bank"])
    assert all(name.endswith(":woe") for name in bank.features)
    from node.mpc.modelling.tables import decode_tables, woe_transform

    woe = []
    for party in ("bank", "telecom"):
        tables = decode_tables(binned[party].outputs[f"bins.{party}"])
        woe += [woe_transform(t, inputs[party][name]) for name, t in tables.items()]
    x, y = np.column_stack(woe), inputs["bank"][LABEL]
    reference = LogisticRegression(C=1e6, max_iter=2000).fit(x, y)
    ours = roc_auc_score(y, x @ coef + intercept)
    assert abs(ours - roc_auc_score(y, reference.decision_function(x))) <= 0.005


def test_t1_sigmoid_error_is_bounded() -> None:
    for radius, bound in ((1.0, 0.019), (2.0, 0.12), (4.0, 0.52)):
        z = np.linspace(-radius, radius, 10001)
        error = np.abs(logistic.sigmoid(z) - logistic.t1(z)).max()
        assert error <= logistic.t1_error_bound(radius) + 1e-12 <= bound


async def test_a_party_aborting_mid_training_ends_every_party_without_a_model() -> None:
    inputs = synthetic(2000, 2, 2)
    job = job_for("lr_train", inputs, {"label": LABEL, "epochs": "5", "batch_size": "100"}, TWO)
    outcomes = await run_with_abort(LrTrainProtocol(), job, inputs, "telecom", "lr.cross", 25,
                                    "telecom: killed mid-training")
    for outcome in outcomes.values():
        assert isinstance(outcome, ProtocolAborted), outcome
        assert outcome.reason == "telecom: killed mid-training"


async def test_each_party_receives_only_its_own_model_part() -> None:
    inputs = synthetic(600, 1, 1)
    results = await train(inputs, {"epochs": "1", "batch_size": "100"},
                          {"model.telecom": ("telecom",)})
    assert list(results["telecom"].outputs) == ["model.telecom"]
    assert results["bank"].outputs == {} and results[DEALER].outputs == {}
    assert ModelPart.from_bytes(results["telecom"].outputs["model.telecom"]).intercept is None


async def test_a_label_holder_without_features_keeps_only_the_intercept() -> None:
    inputs = synthetic(2000, 1, 3)
    del inputs["bank"]["bank/loans:x0"]
    params = {"epochs": "2", "batch_size": "128"}
    results = await train(inputs, params)
    bank = ModelPart.from_bytes(results["bank"].outputs["model.bank"])
    assert bank.features == [] and bank.intercept is not None
    x, y = clear_matrix(inputs)
    w, b0, _ = logistic.reference_sgd(x, y, LrTrainParams(label=LABEL, **params))
    coef, intercept = parts(results)
    assert np.abs(coef - w).max() < 1e-5 and abs(intercept - b0) < 1e-5


async def test_germancredit_with_a_declared_recipe_matches_scikit_learn_auc() -> None:
    """Standardised numeric columns and one-hot categoricals, by the job's recipe, at each owner."""
    import json

    from node.mpc.modelling import preprocessing

    inputs, _ = germancredit()
    steps = []
    for cols in inputs.values():
        for key, col in cols.items():
            if key == LABEL:
                continue
            if col.dtype.kind in "iuf":
                steps.append({"column": key, "standardize": True})
            else:
                steps.append({"column": key, "one_hot": True})
    recipe = json.dumps({"steps": steps})
    results = await train(inputs, {"epochs": "100", "batch_size": "100", "learning_rate": "0.5",
                                   "validation_fraction": "0", "recipe": recipe})
    coef, intercept = parts(results)
    parsed = preprocessing.Recipe.parse(recipe)
    x = np.column_stack([
        v for p in sorted(inputs) for v in preprocessing.apply(
            parsed, {k: c for k, c in inputs[p].items() if k != LABEL}).values()
    ])
    y = inputs["bank"][LABEL]
    assert x.shape[1] == len(coef)
    reference = LogisticRegression(C=1e6, max_iter=5000).fit(x, y)
    ours = roc_auc_score(y, x @ coef + intercept)
    assert abs(ours - roc_auc_score(y, reference.decision_function(x))) <= 0.005
    bank = ModelPart.from_bytes(results["bank"].outputs["model.bank"])
    assert bank.recipe == parsed.fingerprint()


async def test_an_unstandardised_feature_beyond_the_fixed_point_range_is_refused() -> None:
    inputs = synthetic(500, 1, 1)
    inputs["telecom"]["telecom/subs:t0"] = inputs["telecom"]["telecom/subs:t0"] * 1e6
    outcomes = await run_all(LrTrainProtocol(), job_for(
        "lr_train", inputs, {"label": LABEL}, TWO), inputs, return_exceptions=True)
    assert all(isinstance(o, ProtocolAborted) for o in outcomes.values())
    assert "standardise it in the job's recipe" in str(outcomes["telecom"])


def test_every_batch_has_at_least_batch_size_rows() -> None:
    batches = logistic.schedule(1050, 100, 2, seed=3)
    sizes = sorted({b.stop - b.start for b in batches})
    assert sizes == [100, 150] and len(batches) == 20
    assert sorted((b.start, b.stop) for b in batches if b.epoch == 1)[-1] == (900, 1050)


async def test_a_batch_smaller_than_twice_a_partys_features_is_refused() -> None:
    inputs = synthetic(400, 1, 12)
    outcomes = await run_all(LrTrainProtocol(), job_for(
        "lr_train", inputs, {"label": LABEL, "batch_size": "16"}, TWO), inputs,
        return_exceptions=True)
    assert all(isinstance(o, ProtocolAborted) for o in outcomes.values())
    assert "batch_size=24 or more" in str(outcomes["bank"])


def _plan_session(rows: int) -> Session:
    return Session(me="L", parties=("L", "P", "D"), label_holder="L", data_parties=("L", "P"),
                   dealer="D", rows=rows)


def test_fewer_training_rows_than_twice_a_partys_features_are_refused() -> None:
    # batch_size=16 passes the parameter check, but 5 rows make one batch of 5 < 2 x 8 features
    params = LrTrainParams(label=LABEL, batch_size=16, validation_fraction=0.0)
    with pytest.raises(ProtocolError, match="smallest mini-batch has 5 rows"):
        make_plan(params, _plan_session(5), {"L": 0, "P": 8})


def test_a_validation_split_smaller_than_a_batch_is_refused() -> None:
    params = LrTrainParams(label=LABEL, batch_size=16, validation_fraction=0.0005)
    with pytest.raises(ProtocolError, match="validation split has 1 rows"):
        make_plan(params, _plan_session(2000), {"L": 0, "P": 8})


def test_enough_rows_and_an_empty_or_full_validation_split_are_accepted() -> None:
    for fraction in (0.0, 0.2):
        params = LrTrainParams(label=LABEL, batch_size=16, validation_fraction=fraction)
        plan = make_plan(params, _plan_session(2000), {"L": 0, "P": 8})
        assert min(b.stop - b.start for b in plan.batches) >= 16
        assert len(plan.val) in (0, 400)
