"""gbdt jobs through the whole system: gbdt_train requested on devnet, approved by every input
owner, run by the member nodes (real processes, mutual TLS), each part delivered to its owner
alone with its digest on the ledger; then gbdt_predict naming it, scores to the recipient only,
equal to the plaintext reference's; a party killed at its second tree fails the job and leaves
nobody a model."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from node_cluster import approve_all, has_outputs, killed_at, running_alliance
from test_modelling_nodes import register, write_csv

from alliance.canonical import canonical_json, sha256_digest
from alliance.cli.demo.flow import DemoFlow
from node.mpc.modelling.gbdt import reference
from node.mpc.modelling.gbdt.params import GbdtTrainParams

PARAMS = {"label": "bank/gloans:bad", "n_trees": "4", "max_depth": "3", "max_bin": "8"}
INPUTS = ["bank/gloans:bad", "bank/gloans:x0", "telecom/gsubs:t0", "telecom/gsubs:t1"]


@pytest.fixture(scope="module")
def alliance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoFlow]:
    with running_alliance(tmp_path_factory.mktemp("gbdt") / "net") as flow:
        yield flow


def request(flow: DemoFlow, protocol: str, parameters: dict[str, str],
            outputs: dict[str, list[str]]) -> dict:
    return flow.submit("bank", "RequestJob", canonical_json({
        "protocol": protocol, "inputs": INPUTS, "parameters": parameters, "outputs": outputs,
        "dealer": None, "expires_in_seconds": 600, "max_runs": 1}).decode())


def test_gbdt_train_then_predict_as_approved_jobs(alliance: DemoFlow, tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    rows = 500
    x = np.round(rng.normal(size=(rows, 3)), 4)
    y = (rng.random(rows) < 1 / (1 + np.exp(0.5 - x @ [1.0, -0.8, 0.6]))).astype(int)
    write_csv(tmp_path / "gloans.csv", {"bad": y, "x0": x[:, 0]})
    write_csv(tmp_path / "gsubs.csv", {"t0": x[:, 1], "t1": x[:, 2]})
    register(alliance, "bank", "gloans", tmp_path / "gloans.csv")
    register(alliance, "telecom", "gsubs", tmp_path / "gsubs.csv")
    job = approve_all(alliance, request(alliance, "gbdt_train", PARAMS,
                                        {"model.bank": ["bank"], "model.telecom": ["telecom"]}))
    job = alliance.wait_for(job["id"], ("COMPLETED", "FAILED", "DISPUTED"))
    assert job["state"] == "COMPLETED", job.get("failures")
    parts = {org: alliance.delivered(org, job["id"], 1, f"model.{org}")
             for org in ("bank", "telecom")}
    digests = job["results"]["1"]["output_digests"]
    assert digests == {f"model.{org}": sha256_digest(data) for org, data in parts.items()}
    assert not has_outputs(alliance, "platform", job["id"])

    predict = approve_all(alliance, request(
        alliance, "gbdt_predict", {"holder": "bank", "label": PARAMS["label"],
                                   "model_job": job["id"]},
        {"scores": ["telecom"], "evaluation": ["bank"]}))
    predict = alliance.wait_for(predict["id"], ("COMPLETED", "FAILED", "DISPUTED"))
    assert predict["state"] == "COMPLETED", predict.get("failures")
    scores = np.load(io.BytesIO(alliance.delivered("telecom", predict["id"], 1, "scores")))
    params = GbdtTrainParams(**PARAMS)
    fit = reference.fit([("bank", _bins(x[:, :1], 8)), ("telecom", _bins(x[:, 1:], 8))], y,
                        params)
    assert np.abs(scores - fit.scores({"bank": _bins(x[:, :1], 8),
                                       "telecom": _bins(x[:, 1:], 8)})).max() < 1e-12


def _bins(x: np.ndarray, max_bin: int) -> np.ndarray:
    from node.mpc.modelling.gbdt.binned import by_quantile

    return np.stack([by_quantile("c", x[:, j], max_bin).bin_of(x[:, j])
                     for j in range(x.shape[1])])


def test_a_party_killed_mid_training_fails_the_job_and_nobody_gets_a_model(
        alliance: DemoFlow, tmp_path: Path) -> None:
    x = np.round(np.random.default_rng(5).normal(size=(400, 3)), 4)
    y = (x[:, 0] + x[:, 1] > 0).astype(int)
    write_csv(tmp_path / "kloans.csv", {"bad": y, "x0": x[:, 0]})
    write_csv(tmp_path / "ksubs.csv", {"t0": x[:, 1], "t1": x[:, 2]})
    register(alliance, "bank", "kloans", tmp_path / "kloans.csv")
    register(alliance, "telecom", "ksubs", tmp_path / "ksubs.csv")
    inputs = ["bank/kloans:bad", "bank/kloans:x0", "telecom/ksubs:t0", "telecom/ksubs:t1"]
    # telecom's node exits at once (as under SIGKILL) when it starts its second tree
    killed_at(alliance, "telecom", "gbdt_train.tree1", lambda: approve_all(
        alliance, alliance.submit("bank", "RequestJob", canonical_json({
            "protocol": "gbdt_train", "inputs": inputs,
            "parameters": {"label": "bank/kloans:bad", "n_trees": "5", "max_depth": "2"},
            "outputs": {"model.bank": ["bank"], "model.telecom": ["telecom"]},
            "dealer": None, "expires_in_seconds": 600, "max_runs": 1}).decode())))
