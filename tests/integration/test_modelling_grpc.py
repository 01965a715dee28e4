"""The modelling protocols over the real gRPC transport with mutual TLS (bank, telecom, and
platform as the dealer), checked against the same computations in the clear."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from node.mpc import JobContext, MpcProtocol, ProtocolResult, execute
from node.mpc.modelling import BinningProtocol, LrTrainProtocol, binning, logistic
from node.mpc.modelling.logistic import ModelPart
from node.mpc.modelling.params import LrTrainParams
from node.mpc.modelling.tables import decode_tables
from tests.integration.test_mpc_grpc import Cluster
from tests.unit.modelling_helpers import LABEL, job_for, synthetic


@pytest.fixture
async def cluster(network_dir: Path, passphrase: bytes) -> AsyncIterator[Cluster]:
    parties = ("bank", "platform", "telecom")
    cluster = Cluster(network_dir, passphrase, {"lr": parties, "bins": parties,
                                                "pred": ("bank", "telecom")})
    await cluster.start()
    yield cluster
    await cluster.stop()


async def run(cluster: Cluster, protocol: MpcProtocol, job: JobContext, inputs: dict
              ) -> dict[str, ProtocolResult]:
    async def one(org: str) -> ProtocolResult:
        async with cluster.transport(job.job_id, org, job.participants) as transport:
            return await execute(protocol, job, inputs.get(org, {}), transport)

    results = await asyncio.gather(*(one(org) for org in job.participants))
    return dict(zip(job.participants, results, strict=True))


async def test_lr_train_over_mutual_tls_equals_the_clear(cluster: Cluster) -> None:
    inputs = synthetic(3000, 2, 3)
    params = {"label": LABEL, "epochs": "3", "batch_size": "256"}
    job = job_for("lr_train", inputs, params,
                  {"model.bank": ("bank",), "model.telecom": ("telecom",)}, job_id="lr")
    results = await run(cluster, LrTrainProtocol(), job, inputs)
    bank = ModelPart.from_bytes(results["bank"].outputs["model.bank"])
    telecom = ModelPart.from_bytes(results["telecom"].outputs["model.telecom"])
    x = np.column_stack([v for p in ("bank", "telecom") for k, v in inputs[p].items()
                         if k != LABEL])
    w, b0, _ = logistic.reference_sgd(x, inputs["bank"][LABEL], LrTrainParams(**params))
    assert np.abs(np.r_[bank.coefficients, telecom.coefficients] - w).max() < 1e-5
    assert bank.intercept is not None and abs(bank.intercept - b0) < 1e-5
    assert results["platform"].outputs == {}


async def test_binning_over_mutual_tls_counts_events_exactly(cluster: Cluster) -> None:
    inputs = synthetic(2000, 1, 2)
    job = job_for("binning", inputs, {"label": LABEL, "bins": "6"},
                  {"bins.telecom": ("telecom",)}, job_id="bins")
    results = await run(cluster, BinningProtocol(), job, inputs)
    y = inputs["bank"][LABEL]
    for name, table in decode_tables(results["telecom"].outputs["bins.telecom"]).items():
        index = binning.assign(inputs["telecom"][name], np.array(table.breaks))
        assert table.events == np.bincount(index, weights=y, minlength=6).astype(int).tolist()
    assert results["bank"].outputs == {} and results["platform"].outputs == {}


async def test_lr_predict_over_mutual_tls_scores_and_evaluates(cluster: Cluster) -> None:
    from sklearn.metrics import roc_auc_score

    from node.mpc.modelling import LrPredictProtocol, evaluation
    from node.mpc.modelling.features import MODEL_KEY

    inputs = synthetic(2000, 2, 2)
    parts = {
        "bank": ModelPart("lr", "bank", ["bank/loans:x0", "bank/loans:x1"], [0.4, -0.2], -1.0),
        "telecom": ModelPart("lr", "telecom", ["telecom/subs:t0", "telecom/subs:t1"], [0.3, 0.1]),
    }
    local = {p: {**cols, MODEL_KEY: np.frombuffer(parts[p].to_bytes(), dtype=np.uint8)}
             for p, cols in inputs.items()}
    job = job_for("lr_predict", inputs, {"holder": "bank", "label": LABEL},
                  {"scores": ("telecom",), "evaluation": ("bank",)}, dealer=None, job_id="pred")
    results = await run(cluster, LrPredictProtocol(), job, local)
    bank, telecom = inputs["bank"], inputs["telecom"]
    x = np.column_stack([bank["bank/loans:x0"], bank["bank/loans:x1"],
                         telecom["telecom/subs:t0"], telecom["telecom/subs:t1"]])
    clear = logistic.sigmoid(x @ [0.4, -0.2, 0.3, 0.1] - 1.0)
    scores = np.load(io.BytesIO(results["telecom"].outputs["scores"]))
    assert np.abs(scores - clear).max() < 1e-5
    report = evaluation.Report.from_bytes(results["bank"].outputs["evaluation"])
    assert abs(report.auc - roc_auc_score(inputs["bank"][LABEL], clear)) < 1e-6
    assert list(results["bank"].outputs) == ["evaluation"]
