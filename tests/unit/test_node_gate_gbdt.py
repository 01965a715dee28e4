"""The node's gate re-checks a gbdt job from the ledger before running it: parameters the spec
refuses, and a prediction whose model job (as the node reads it now) is not a completed
gbdt_train job."""

from __future__ import annotations

from typing import Any

import pytest
from contract_helpers import Alliance
from link_helpers import complete, ledger, psi
from test_contract_gbdt import gbdt_predict_body, gbdt_train_body

from alliance.models import Job, JobState
from node.errors import GateRefused
from node.gate import check_job, refusal_reasons


@pytest.fixture
def a() -> Alliance:
    return ledger()


def _job(data: dict[str, Any]) -> Job:
    return Job.model_validate(data)


def fps(job: Job, org: str) -> dict[str, str]:
    return {i.dataset: i.fingerprint for i in job.inputs if i.owner == org}


def approved(a: Alliance, body: str) -> Job:
    job = a.ok("RequestJob", body, by="bank")
    for org in job["required_approvers"]:
        job = a.ok("ApproveJob", job["id"], by=org)
    return _job(job)


@pytest.mark.parametrize(("name", "value", "says"), [
    ("max_depth", "50", "max_depth='50'"),
    ("colsample", "0", "colsample='0'"),
    ("learning_rate", "nan", "learning_rate='nan'"),
])
def test_the_gate_refuses_gbdt_train_parameters_the_spec_refuses(
        a: Alliance, name: str, value: str, says: str) -> None:
    aligned = psi(a, ["bank", "telecom"])
    job = approved(a, gbdt_train_body(aligned["id"]))
    linked = {aligned["id"]: _job(aligned)}
    assert refusal_reasons(job, "telecom", job.created_at + 1, fps(job, "telecom"),
                           linked=linked) == []
    # a record the contract would never accept: the parameters changed after approval
    forged = job.model_copy(update={"parameters": {**job.parameters, name: value}})
    with pytest.raises(GateRefused, match=says):
        check_job(forged, "telecom", job.created_at + 1, fps(job, "telecom"), linked=linked)


def test_the_gate_refuses_a_predict_whose_model_job_is_not_a_completed_gbdt_train(
        a: Alliance) -> None:
    aligned = psi(a, ["bank", "telecom"])
    model = complete(a, a.ok("RequestJob", gbdt_train_body(aligned["id"]), by="bank"))
    job = approved(a, gbdt_predict_body(aligned["id"], model["id"]))
    linked = {aligned["id"]: _job(aligned), model["id"]: _job(model)}
    assert refusal_reasons(job, "bank", job.created_at + 1, fps(job, "bank"), linked=linked) == []
    failed = _job(model).model_copy(update={"state": JobState.FAILED})
    with pytest.raises(GateRefused, match="is FAILED, not COMPLETED"):
        check_job(job, "bank", job.created_at + 1, fps(job, "bank"),
                  linked={**linked, model["id"]: failed})
    other = _job(model).model_copy(update={"protocol": "lr_train"})
    with pytest.raises(GateRefused, match="is a lr_train job, not gbdt_train"):
        check_job(job, "telecom", job.created_at + 1, fps(job, "telecom"),
                  linked={**linked, model["id"]: other})
