"""`lr_predict` and the evaluation report: scores equal the split model applied in the clear,
metrics equal scikit-learn's, only the named recipients receive anything."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score, roc_curve

from node.errors import ProtocolAborted
from node.mpc.modelling import evaluation, logistic
from node.mpc.modelling.features import MODEL_KEY
from node.mpc.modelling.logistic import ModelPart
from node.mpc.modelling.lr_predict import LrPredictProtocol
from node.mpc.modelling.lr_train import LrTrainProtocol
from tests.unit.modelling_helpers import LABEL, job_for, run_all, synthetic


async def trained(inputs: dict, validation: str = "0.2") -> dict[str, bytes]:
    job = job_for("lr_train", inputs, {"label": LABEL, "epochs": "3", "batch_size": "100",
                                       "validation_fraction": validation, "seed": "4"},
                  {f"model.{p}": (p,) for p in inputs})
    results = await run_all(LrTrainProtocol(), job, inputs)
    return {p: results[p].outputs[f"model.{p}"] for p in inputs}


def with_models(inputs: dict, models: dict[str, bytes]) -> dict:
    return {p: {**cols, MODEL_KEY: np.frombuffer(models[p], dtype=np.uint8)}
            for p, cols in inputs.items()}


def clear_scores(inputs: dict, models: dict[str, bytes]) -> np.ndarray:
    z = np.zeros(len(inputs["bank"][LABEL]))
    for party, data in models.items():
        part = ModelPart.from_bytes(data)
        x = np.column_stack([inputs[party][name] for name in part.features])
        z += x @ np.array(part.coefficients) + (part.intercept or 0.0)
    return logistic.sigmoid(z)


@pytest.mark.parametrize("parties", [2, 3])
async def test_scores_reach_the_recipient_only_and_equal_the_clear(parties: int) -> None:
    inputs = synthetic(3000, 2, 3)
    if parties == 3:
        inputs["retail"] = {"retail/b:r0": np.random.default_rng(2).normal(size=3000)}
    models = await trained(inputs)
    unlabelled = {p: {k: v for k, v in cols.items() if k != LABEL} for p, cols in inputs.items()}
    job = job_for("lr_predict", unlabelled, {"holder": "bank"}, {"scores": ("telecom",)},
                  dealer=None)
    results = await run_all(LrPredictProtocol(), job, with_models(unlabelled, models))
    scores = np.load(io.BytesIO(results["telecom"].outputs["scores"]))
    assert np.abs(scores - clear_scores(inputs, models)).max() < 1e-5
    assert results["bank"].outputs == {}
    assert all(results[p].outputs == {} for p in results if p != "telecom")


async def test_evaluation_goes_to_the_label_holder_and_matches_scikit_learn() -> None:
    inputs = synthetic(4000, 2, 3, seed=9)
    models = await trained(inputs)
    job = job_for("lr_predict", inputs, {"holder": "bank", "label": LABEL, "threshold": "0.3"},
                  {"evaluation": ("bank",)}, dealer=None)
    results = await run_all(LrPredictProtocol(), job, with_models(inputs, models))
    assert results["telecom"].outputs == {}
    rep = evaluation.Report.from_bytes(results["bank"].outputs["evaluation"])
    y, p = inputs["bank"][LABEL], clear_scores(inputs, models)
    assert abs(rep.auc - roc_auc_score(y, p)) < 1e-6
    fpr, tpr, _ = roc_curve(y, p)
    assert abs(rep.ks - np.max(tpr - fpr)) < 1e-4
    assert rep.confusion["tp"] + rep.confusion["fn"] == int(y.sum())
    assert abs(rep.deciles[-1]["gain"] - 1.0) < 1e-12
    assert rep.deciles[0]["lift"] > 1.5


async def test_evaluation_to_another_party_is_refused() -> None:
    inputs = synthetic(500, 1, 1)
    models = await trained(inputs)
    job = job_for("lr_predict", inputs, {"holder": "bank", "label": LABEL},
                  {"evaluation": ("telecom",)}, dealer=None)
    with pytest.raises(ProtocolAborted, match="to the label holder bank alone"):
        await run_all(LrPredictProtocol(), job, with_models(inputs, models))


def test_metrics_match_scikit_learn_with_ties() -> None:
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 5000)
    scores = np.round(rng.random(5000) * 0.5 + y * 0.2, 2)  # many ties
    assert abs(evaluation.auc(y, scores) - roc_auc_score(y, scores)) < 1e-12
    fpr, tpr, _ = roc_curve(y, scores)
    assert abs(evaluation.ks(y, scores) - np.max(np.abs(tpr - fpr))) < 1e-12


def test_plots_are_png_images(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 2000)
    rep = evaluation.report(y, rng.random(2000) * 0.6 + y * 0.3)
    images = evaluation.plots(rep)
    assert sorted(images) == ["ks.png", "lift.png", "roc.png"]
    for name, data in images.items():
        assert data.startswith(b"\x89PNG\r\n\x1a\n")
        (tmp_path / name).write_bytes(data)


def test_a_report_read_back_encodes_to_the_same_bytes() -> None:
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 1000)
    data = evaluation.report(y, rng.random(1000) * 0.6 + y * 0.3).to_bytes()
    assert evaluation.Report.from_bytes(data).to_bytes() == data


async def test_rows_validation_evaluates_only_the_rows_training_held_out() -> None:
    inputs = synthetic(4000, 2, 3, seed=9)
    models = await trained(inputs, validation="0.25")
    job = job_for("lr_predict", inputs, {"holder": "bank", "label": LABEL, "rows": "validation"},
                  {"evaluation": ("bank",), "scores": ("telecom",)}, dealer=None)
    results = await run_all(LrPredictProtocol(), job, with_models(inputs, models))
    _, held = logistic.split_rows(4000, 0.25, 4)  # the training's own split (seed 4)
    held = np.sort(held)
    y, p = inputs["bank"][LABEL][held], clear_scores(inputs, models)[held]
    rep = evaluation.Report.from_bytes(results["bank"].outputs["evaluation"])
    assert rep.rows == 1000 and abs(rep.auc - roc_auc_score(y, p)) < 1e-6
    scores = np.load(io.BytesIO(results["telecom"].outputs["scores"]))
    assert np.abs(scores - p).max() < 1e-5


async def test_rows_validation_without_a_held_out_split_is_refused() -> None:
    inputs = synthetic(600, 1, 1)
    models = await trained(inputs, validation="0")
    job = job_for("lr_predict", inputs, {"holder": "bank", "label": LABEL, "rows": "validation"},
                  {"evaluation": ("bank",)}, dealer=None)
    with pytest.raises(ProtocolAborted, match="held out no rows"):
        await run_all(LrPredictProtocol(), job, with_models(inputs, models))


async def test_rows_validation_on_other_rows_than_the_trainings_is_refused() -> None:
    inputs = synthetic(600, 1, 1)
    models = await trained(inputs)
    fewer = {p: {k: v[:500] for k, v in cols.items()} for p, cols in inputs.items()}
    job = job_for("lr_predict", fewer, {"holder": "bank", "label": LABEL, "rows": "validation"},
                  {"evaluation": ("bank",)}, dealer=None)
    with pytest.raises(ProtocolAborted, match="not the 600 rows it was trained on"):
        await run_all(LrPredictProtocol(), job, with_models(fewer, models))


def _recipe_inputs() -> tuple[dict, str]:
    """Shifted, scaled, partly missing features and a recipe that fills, clips, standardises."""
    import json

    inputs = synthetic(3000, 2, 2, seed=6)
    for party, scale in (("bank", 40.0), ("telecom", 7.0)):
        for key in [k for k in inputs[party] if k != LABEL]:
            column = inputs[party][key] * scale + 100.0
            column[::37] = np.nan
            inputs[party][key] = column
    steps = [{"column": k, "fill": "median", "clip_quantiles": [0.02, 0.98], "standardize": True}
             for cols in inputs.values() for k in cols if k != LABEL]
    return inputs, json.dumps({"steps": steps})


async def test_new_rows_are_transformed_with_the_trainings_figures_not_their_own() -> None:
    from node.mpc.modelling import preprocessing

    inputs, recipe = _recipe_inputs()
    job = job_for("lr_train", inputs, {"label": LABEL, "epochs": "3", "batch_size": "100",
                                       "recipe": recipe}, {f"model.{p}": (p,) for p in inputs})
    models = {p: r.outputs[f"model.{p}"]
              for p, r in (await run_all(LrTrainProtocol(), job, inputs)).items() if r.outputs}
    new = {p: {k: v[:40] for k, v in cols.items() if k != LABEL} for p, cols in inputs.items()}
    predict = job_for("lr_predict", new, {"holder": "bank", "recipe": recipe},
                      {"scores": ("bank",)}, dealer=None)
    results = await run_all(LrPredictProtocol(), predict, with_models(new, models))
    scores = np.load(io.BytesIO(results["bank"].outputs["scores"]))
    parsed = preprocessing.Recipe.parse(recipe)
    z = np.zeros(3000)
    for party, data in models.items():
        part = ModelPart.from_bytes(data)
        x = preprocessing.apply(parsed, {k: v for k, v in inputs[party].items() if k != LABEL})
        z += np.column_stack(list(x.values())) @ np.array(part.coefficients)
        z += part.intercept or 0.0
    assert np.abs(scores - logistic.sigmoid(z)[:40]).max() < 1e-5  # as transformed in training


async def test_a_prediction_with_another_recipe_than_the_trainings_is_refused() -> None:
    inputs, recipe = _recipe_inputs()
    job = job_for("lr_train", inputs, {"label": LABEL, "epochs": "1", "batch_size": "100",
                                       "recipe": recipe}, {f"model.{p}": (p,) for p in inputs})
    models = {p: r.outputs[f"model.{p}"]
              for p, r in (await run_all(LrTrainProtocol(), job, inputs)).items() if r.outputs}
    other = recipe.replace('"fill": "median"', '"fill": "mean"')
    predict = job_for("lr_predict", inputs, {"holder": "bank", "recipe": other},
                      {"scores": ("bank",)}, dealer=None)
    with pytest.raises(ProtocolAborted, match="is not the one training job"):
        await run_all(LrPredictProtocol(), predict, with_models(inputs, models))
