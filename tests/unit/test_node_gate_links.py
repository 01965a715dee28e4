"""The node re-checks a modelling job's links from the ledger before running it: a job the
contract accepted is refused when the jobs it names (as the node reads them now) do not hold."""

from __future__ import annotations

from typing import Any

import pytest
from contract_helpers import Alliance
from link_helpers import binning_body, chain, complete, ledger, predict_body, psi

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


def approved_binning(a: Alliance) -> tuple[Job, Job]:
    aligned = psi(a, ["bank", "telecom"])
    job = a.ok("RequestJob", binning_body(aligned["id"]), by="bank")
    for org in job["required_approvers"]:
        job = a.ok("ApproveJob", job["id"], by=org)
    return _job(job), _job(aligned)


def test_the_gate_opens_when_the_alignment_psi_holds(a: Alliance) -> None:
    job, aligned = approved_binning(a)
    assert refusal_reasons(job, "telecom", job.created_at + 1, fps(job, "telecom"),
                           linked={aligned.id: aligned}) == []


def test_the_gate_refuses_when_it_cannot_read_the_alignment_job(a: Alliance) -> None:
    job, _ = approved_binning(a)
    with pytest.raises(GateRefused, match="is not a job on the ledger"):
        check_job(job, "telecom", job.created_at + 1, fps(job, "telecom"), linked={})


def test_the_gate_refuses_an_alignment_psi_that_left_out_a_party(a: Alliance) -> None:
    job, aligned = approved_binning(a)
    forged = aligned.model_copy(update={"outputs": {"intersection": ["bank"]}})
    with pytest.raises(GateRefused, match="intersection did not go to telecom"):
        check_job(job, "telecom", job.created_at + 1, fps(job, "telecom"),
                  linked={aligned.id: forged})


def test_the_gate_refuses_an_alignment_psi_no_longer_completed(a: Alliance) -> None:
    job, aligned = approved_binning(a)
    moved = aligned.model_copy(update={"state": JobState.REVOKED})
    with pytest.raises(GateRefused, match="is REVOKED, not COMPLETED"):
        check_job(job, "bank", job.created_at + 1, fps(job, "bank"), linked={aligned.id: moved})


def test_the_gate_refuses_a_model_job_of_other_parties(a: Alliance) -> None:
    jobs = chain(a)
    job = _job(complete(a, a.ok("RequestJob", predict_body(jobs["psi"]["id"],
                                                           jobs["lr_train"]["id"]), by="bank")))
    job = job.model_copy(update={"state": JobState.APPROVED, "runs_used": 0})
    model = _job(jobs["lr_train"])
    linked = {jobs["psi"]["id"]: _job(jobs["psi"]), model.id: model}
    assert refusal_reasons(job, "bank", job.created_at + 1, fps(job, "bank"), linked=linked) == []
    narrowed = model.model_copy(update={"outputs": {"model.bank": ["bank"]}, "inputs": [
        i for i in model.inputs if i.owner == "bank"]})
    with pytest.raises(GateRefused, match="was between bank, this job is between bank, telecom"):
        check_job(job, "bank", job.created_at + 1, fps(job, "bank"),
                  linked={**linked, model.id: narrowed})
