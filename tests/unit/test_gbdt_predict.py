"""`gbdt_predict`: the joint scores equal the reference model's scores in the clear, reach the
named recipients only, and the evaluation goes to the label holder; parts of different training
jobs are refused."""

from __future__ import annotations

import io

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from node.errors import ProtocolAborted
from node.mpc.modelling import evaluation
from node.mpc.modelling.features import MODEL_KEY
from node.mpc.modelling.gbdt.params import GbdtTrainParams
from node.mpc.modelling.gbdt.predict_protocol import GbdtPredictProtocol
from tests.unit.gbdt_helpers import clear_fit, party_bins, secure_fit
from tests.unit.modelling_helpers import LABEL, job_for, run_all, synthetic

PARAMS = {"n_trees": "5", "max_depth": "3", "max_bin": "8"}


def with_models(inputs: dict, results: dict) -> dict:
    return {p: {**cols, MODEL_KEY: np.frombuffer(results[p].outputs[f"model.{p}"],
                                                 dtype=np.uint8)}
            for p, cols in inputs.items()}


async def predict(inputs: dict, results: dict, params: dict[str, str],
                  outputs: dict[str, tuple[str, ...]]) -> dict:
    job = job_for("gbdt_predict", inputs, {"holder": "bank", **params}, outputs, dealer=None)
    return await run_all(GbdtPredictProtocol(), job, with_models(inputs, results),
                         return_exceptions=True)


@pytest.mark.parametrize("parties", [2, 3])
async def test_scores_reach_the_recipient_only_and_equal_the_reference(parties: int) -> None:
    inputs = synthetic(500, 2, 2, seed=6)
    if parties == 3:
        inputs["retail"] = {"retail/b:r0": np.random.default_rng(2).normal(size=500)}
    results = await secure_fit(inputs, PARAMS)
    unlabelled = {p: {k: v for k, v in cols.items() if k != LABEL} for p, cols in inputs.items()}
    got = await predict(unlabelled, results, {}, {"scores": ("telecom",)})
    scores = np.load(io.BytesIO(got["telecom"].outputs["scores"]))
    fit = clear_fit(inputs, PARAMS)
    bins = dict(party_bins(inputs, GbdtTrainParams(label=LABEL, **PARAMS)))
    assert np.abs(scores - fit.scores(bins)).max() < 1e-12
    assert all(got[p].outputs == {} for p in got if p != "telecom")


async def test_evaluation_goes_to_the_label_holder_and_matches_scikit_learn() -> None:
    inputs = synthetic(600, 2, 2, seed=9)
    results = await secure_fit(inputs, PARAMS)
    got = await predict(inputs, results, {"label": LABEL},
                        {"scores": ("bank",), "evaluation": ("bank",)})
    report = evaluation.Report.from_bytes(got["bank"].outputs["evaluation"])
    scores = np.load(io.BytesIO(got["bank"].outputs["scores"]))
    assert report.auc == pytest.approx(roc_auc_score(inputs["bank"][LABEL], scores), abs=1e-12)
    assert got["telecom"].outputs == {}


async def test_parts_of_two_different_training_jobs_are_refused() -> None:
    inputs = synthetic(400, 2, 2, seed=3)
    first = await secure_fit(inputs, PARAMS, job_id="job-a")
    second = await secure_fit(inputs, PARAMS, job_id="job-b")
    mixed = {"bank": first["bank"], "telecom": second["telecom"]}
    got = await predict(inputs, mixed, {"label": LABEL}, {"scores": ("bank",)})
    assert isinstance(got["bank"], ProtocolAborted)
    assert "comes from job job-b" in str(got["bank"])
    assert isinstance(got["telecom"], ProtocolAborted) or got["telecom"].outputs == {}


async def test_a_missing_model_part_fails_the_job() -> None:
    inputs = synthetic(300, 1, 1)
    results = await secure_fit(inputs, {"n_trees": "2"})
    models = with_models(inputs, results)
    del models["telecom"][MODEL_KEY]
    job = job_for("gbdt_predict", inputs, {"holder": "bank"}, {"scores": ("bank",)},
                  dealer=None)
    got = await run_all(GbdtPredictProtocol(), job, models, return_exceptions=True)
    assert all(isinstance(o, ProtocolAborted) for o in got.values())
