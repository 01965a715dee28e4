"""The contract refuses a modelling job whose named jobs (alignment PSI, model, bins) do not hold
what the job needs: each rule tried on the real contract over the dict-backed stub."""

from __future__ import annotations

import pytest
from contract_helpers import Alliance
from link_helpers import (
    binning_body,
    body,
    chain,
    ledger,
    predict_body,
    psi,
    scorecard_body,
    train_body,
)


@pytest.fixture
def a() -> Alliance:
    return ledger()


def test_a_job_aligned_by_a_completed_psi_to_every_party_is_accepted(a: Alliance) -> None:
    aligned = psi(a, ["bank", "telecom"])
    job = a.ok("RequestJob", binning_body(aligned["id"]), by="bank")
    assert job["parameters"]["alignment_job"] == aligned["id"]


def test_a_job_whose_alignment_psi_left_out_a_party_is_refused(a: Alliance) -> None:
    aligned = psi(a, ["bank"])
    response = a.refused("RequestJob", binning_body(aligned["id"]), error="InvalidArgument")
    assert "intersection did not go to telecom" in response.message


def test_an_alignment_psi_that_has_not_completed_is_refused(a: Alliance) -> None:
    aligned = psi(a, ["bank", "telecom"], done=False)
    response = a.refused("RequestJob", train_body(aligned["id"]), error="InvalidArgument")
    assert "not COMPLETED" in response.message


def test_an_alignment_job_that_is_not_psi_is_refused(a: Alliance) -> None:
    stats = a.ok("RequestJob", body("stats", ["bank/customers:amount"], {"result": ["bank"]},
                                    {"op": "sum"}), by="bank")
    response = a.refused("RequestJob", binning_body(stats["id"]), error="InvalidArgument")
    assert "is a stats job, not psi" in response.message


def test_an_unknown_alignment_job_is_refused(a: Alliance) -> None:
    response = a.refused("RequestJob", binning_body("job-0000000000000000"),
                         error="InvalidArgument")
    assert "is not a job on the ledger" in response.message


def test_ids_without_an_alignment_job_are_refused(a: Alliance) -> None:
    response = a.refused("RequestJob", binning_body(""), error="InvalidArgument")
    assert "name the completed psi job in the alignment_job parameter" in response.message


def test_ids_the_psi_did_not_intersect_are_refused(a: Alliance) -> None:
    aligned = psi(a, ["bank", "telecom"])
    response = a.refused("RequestJob", binning_body(aligned["id"], ids="bank/loans:x,"
                                                    "telecom/subs:id"), error="InvalidArgument")
    assert "bank/loans:x were not inputs of alignment_job" in response.message


def test_prediction_needs_a_model_job(a: Alliance) -> None:
    aligned = psi(a, ["bank", "telecom"])
    response = a.refused("RequestJob", predict_body(aligned["id"], ""), error="InvalidArgument")
    assert "must name the job it builds on in its model_job" in response.message


def test_prediction_with_a_completed_training_of_the_same_parties_is_accepted(
    a: Alliance,
) -> None:
    jobs = chain(a)
    job = a.ok("RequestJob", predict_body(jobs["psi"]["id"], jobs["lr_train"]["id"],
                                          bins_job=jobs["binning"]["id"]), by="bank")
    assert job["state"] == "REQUESTED"


def test_a_model_job_that_is_a_binning_job_is_refused(a: Alliance) -> None:
    jobs = chain(a)
    response = a.refused("RequestJob", predict_body(jobs["psi"]["id"], jobs["binning"]["id"]),
                         error="InvalidArgument")
    assert "is a binning job, not lr_train" in response.message


def test_a_scorecard_for_other_parties_than_the_model_is_refused(a: Alliance) -> None:
    jobs = chain(a)
    response = a.refused("RequestJob", scorecard_body(jobs["lr_train"]["id"],
                                                      jobs["binning"]["id"], ("bank",)),
                         error="InvalidArgument")
    assert "was between bank, telecom, this job is between bank" in response.message


def test_a_scorecard_on_completed_training_and_binning_is_accepted(a: Alliance) -> None:
    jobs = chain(a)
    job = a.ok("RequestJob", scorecard_body(jobs["lr_train"]["id"], jobs["binning"]["id"]),
               by="bank")
    assert job["parameters"]["bins_job"] == jobs["binning"]["id"]
