"""Modelling jobs through the whole system: requested on devnet, approved by every input owner
and the dealer, run by the member nodes (real processes, mutual TLS), model parts delivered only
to their owners, the job COMPLETED with agreeing receipts; a party killed mid-training fails the
job and leaves nobody a model."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from node_cluster import approve_all, has_outputs, killed_at, running_alliance

from alliance.canonical import canonical_json
from alliance.cli.demo.flow import DemoFlow
from node.mpc.modelling import logistic
from node.mpc.modelling.logistic import ModelPart
from node.mpc.modelling.params import LrTrainParams


@pytest.fixture(scope="module")
def alliance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoFlow]:
    with running_alliance(tmp_path_factory.mktemp("modelling") / "net") as flow:
        yield flow


def register(flow: DemoFlow, org: str, name: str, path: Path) -> None:
    """Register a CSV file on the ledger and in the org's node store (as the demo does)."""
    from node.paths import node_store_path
    from node.sources import open_source
    from node.store import LocalDataset, NodeStore

    fp = open_source(str(path)).fingerprint()
    dataset = flow.submit(org, "RegisterDataset", canonical_json({
        "name": name, "schema": fp.schema, "row_count": fp.row_count,
        "fingerprint": fp.fingerprint, "description": f"modelling test {name}", "tags": ["test"],
    }).decode())
    NodeStore(node_store_path(flow.net_dir, org)).put_dataset(LocalDataset(
        name=name, location=str(path), columns_json=json.dumps(fp.schema),
        row_count=fp.row_count, fingerprint=fp.fingerprint, merkle_root=fp.merkle_root,
        ledger_version=dataset["version"], ledger_tx=dataset["updated_tx"],
    ))


def write_csv(path: Path, columns: dict[str, np.ndarray]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(list(columns))
        for row in zip(*columns.values(), strict=True):
            writer.writerow([str(v) for v in row])


def training_data(flow: DemoFlow, tmp_path: Path, suffix: str = ""
                  ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """600 rows, two features at the bank (with the label), two at the telecom, registered."""
    rng = np.random.default_rng(12)
    rows = 600
    x = np.round(rng.normal(size=(rows, 4)), 4)
    y = (rng.random(rows) < 1 / (1 + np.exp(1.0 - x @ [0.8, -0.5, 0.6, 0.3]))).astype(int)
    write_csv(tmp_path / "loans.csv", {"bad": y, "x0": x[:, 0], "x1": x[:, 1]})
    write_csv(tmp_path / "subs.csv", {"t0": x[:, 2], "t1": x[:, 3]})
    register(flow, "bank", f"loans{suffix}", tmp_path / "loans.csv")
    register(flow, "telecom", f"subs{suffix}", tmp_path / "subs.csv")
    return x, y, [f"bank/loans{suffix}:bad", f"bank/loans{suffix}:x0", f"bank/loans{suffix}:x1",
                  f"telecom/subs{suffix}:t0", f"telecom/subs{suffix}:t1"]


def request_training(flow: DemoFlow, inputs: list[str], params: dict[str, str]) -> dict:
    job = flow.submit("bank", "RequestJob", canonical_json({
        "protocol": "lr_train", "inputs": inputs, "parameters": params,
        "outputs": {"model.bank": ["bank"], "model.telecom": ["telecom"]},
        "dealer": "platform", "expires_in_seconds": 600, "max_runs": 1,
    }).decode())
    assert sorted(job["participants"]) == ["bank", "platform", "telecom"]
    return approve_all(flow, job)


def test_lr_train_runs_as_an_approved_job_and_each_owner_gets_its_part(
    alliance: DemoFlow, tmp_path: Path
) -> None:
    x, y, inputs = training_data(alliance, tmp_path)
    params = {"label": "bank/loans:bad", "epochs": "3", "batch_size": "64"}
    job = request_training(alliance, inputs, params)
    job = alliance.wait_for(job["id"], ("COMPLETED", "FAILED", "DISPUTED"))
    assert job["state"] == "COMPLETED", job.get("failures")
    bank = ModelPart.from_bytes(alliance.delivered("bank", job["id"], 1, "model.bank"))
    telecom = ModelPart.from_bytes(alliance.delivered("telecom", job["id"], 1, "model.telecom"))
    w, b0, _ = logistic.reference_sgd(x, y, LrTrainParams(**params))
    assert np.abs(np.r_[bank.coefficients, telecom.coefficients] - w).max() < 1e-5
    assert bank.intercept is not None and abs(bank.intercept - b0) < 1e-5
    assert telecom.intercept is None
    assert not has_outputs(alliance, "platform", job["id"])


def test_a_model_part_for_another_member_is_refused_at_request(
    alliance: DemoFlow, tmp_path: Path
) -> None:
    from alliance.app.errors import Refused

    training_data(alliance, tmp_path, "_misrouted")
    with pytest.raises(Refused, match="goes to telecom alone"):
        alliance.submit("bank", "RequestJob", canonical_json({
            "protocol": "lr_train",
            "inputs": ["bank/loans_misrouted:bad", "telecom/subs_misrouted:t0"],
            "parameters": {"label": "bank/loans_misrouted:bad"},
            "outputs": {"model.telecom": ["bank"]},
            "dealer": "platform", "expires_in_seconds": 600, "max_runs": 1,
        }).decode())


def test_a_party_killed_mid_training_fails_the_job_and_nobody_gets_a_model(
    alliance: DemoFlow, tmp_path: Path
) -> None:
    _, _, inputs = training_data(alliance, tmp_path, "_killed")
    # telecom's node exits at once (as under SIGKILL) when its second training epoch begins
    killed_at(alliance, "telecom", "lr_train.epoch1", lambda: request_training(
        alliance, inputs, {"label": "bank/loans_killed:bad", "epochs": "4", "batch_size": "64"}))
