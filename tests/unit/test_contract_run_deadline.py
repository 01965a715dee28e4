"""Every run ends: a deadline recorded when the run starts, receipts refused after it, ExpireRun."""

from __future__ import annotations

import pytest
from contract_helpers import Alliance, founded

from alliance.run_deadline import RUN_BASE_SECONDS, run_seconds


@pytest.fixture
def a() -> Alliance:
    return founded()


def _running(a: Alliance, **overrides: object) -> dict:
    job = a.approved_job(**overrides)
    return a.ok("ClaimJob", job["id"], by=a.org("bank").client)


def test_the_formula_adds_a_per_row_allowance_to_the_base() -> None:
    assert run_seconds({}, []) == RUN_BASE_SECONDS
    assert run_seconds({}, [1_000_000, 1_000_000]) == RUN_BASE_SECONDS + 120
    assert run_seconds({"run_seconds": "10"}, [1000, 1000]) == 11


def test_the_first_claim_records_the_run_deadline_from_the_inputs_row_counts(a: Alliance) -> None:
    job = _running(a)
    # two inputs of 1000 registered rows each: base + ceil(2000 * 60 us)
    assert job["run_deadline"] == job["claims"]["bank"]["at"] + RUN_BASE_SECONDS + 1


def test_the_run_seconds_parameter_sets_the_base(a: Alliance) -> None:
    job = _running(a, parameters={"op": "sum", "run_seconds": "30"})
    assert job["run_deadline"] == job["claims"]["bank"]["at"] + 30 + 1


@pytest.mark.parametrize("value", ["soon", "1", str(8 * 24 * 3600)])
def test_a_bad_run_seconds_parameter_is_refused_at_request(a: Alliance, value: str) -> None:
    from contract_helpers import job_request

    response = a.refused("RequestJob", job_request(
        ["bank/customers:amount", "telecom/subscribers:amount"],
        parameters={"op": "sum", "run_seconds": value}), by="telecom", error="InvalidArgument")
    assert "run_seconds" in response.message


def test_receipts_and_claims_after_the_deadline_are_refused(a: Alliance) -> None:
    job = _running(a)
    late = job["run_deadline"]
    response = a.refused("SubmitReceipt", job["id"], a.receipt(job, "bank"),
                         by=a.org("bank").client, timestamp=late, error="Expired")
    assert "expire-run" in response.message
    a.refused("ClaimJob", job["id"], by=a.org("telecom").client, timestamp=late, error="Expired")
    a.ok("ClaimJob", job["id"], by=a.org("telecom").client, timestamp=late - 1)


def test_expire_run_before_the_deadline_is_refused(a: Alliance) -> None:
    job = _running(a)
    a.refused("ExpireRun", job["id"], by=a.org("telecom").client,
              timestamp=job["run_deadline"] - 1, error="Conflict")


def test_expire_run_fails_the_run_naming_who_owes_a_receipt(a: Alliance) -> None:
    job = _running(a)
    job = a.ok("ClaimJob", job["id"], by=a.org("telecom").client)
    a.ok("SubmitReceipt", job["id"], a.receipt(job, "telecom"), by=a.org("telecom").client)
    expired = a.ok("ExpireRun", job["id"], by=a.org("telecom").client,
                   timestamp=job["run_deadline"])
    assert expired["state"] == "FAILED"
    failure = expired["failures"]["telecom"]
    assert failure["reason"] == "deadline passed, missing receipts from bank"
    assert failure["run"] == 1
    name, payload = a.event()
    assert (name, payload["code"], payload["org"]) == ("JobFailed", "deadline_passed", "telecom")


def test_a_participants_admin_may_expire_the_run(a: Alliance) -> None:
    job = _running(a)
    expired = a.ok("ExpireRun", job["id"], by="bank", timestamp=job["run_deadline"] + 100)
    assert "bank, telecom" in expired["failures"]["bank"]["reason"]


def test_expire_run_by_a_non_participant_is_refused(a: Alliance) -> None:
    job = _running(a)
    a.refused("ExpireRun", job["id"], by="platform", timestamp=job["run_deadline"],
              error="NotAuthorized")


def test_expire_run_of_a_job_not_running_is_conflict(a: Alliance) -> None:
    job = a.approved_job()
    a.refused("ExpireRun", job["id"], by="bank", timestamp=job["expires_at"] - 1,
              error="Conflict")


def test_a_completed_run_cannot_be_expired(a: Alliance) -> None:
    job = _running(a)
    job = a.ok("ClaimJob", job["id"], by=a.org("telecom").client)
    for org in ("bank", "telecom"):
        job = a.ok("SubmitReceipt", job["id"], a.receipt(job, org), by=a.org(org).client)
    assert job["state"] == "COMPLETED"
    a.refused("ExpireRun", job["id"], by="bank", timestamp=job["run_deadline"] + 1,
              error="Conflict")
