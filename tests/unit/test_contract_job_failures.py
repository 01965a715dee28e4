"""FailJob takes a coded report, never free text: the contract checks every reference against the
job and publishes only the code's fixed message."""

from __future__ import annotations

import json

import pytest
from contract_helpers import Alliance, founded

from alliance.failures import TEMPLATES, FailureCode


@pytest.fixture
def a() -> Alliance:
    return founded()


def running(a: Alliance) -> dict:
    job = a.approved_job()
    for org in job["participants"]:
        job = a.ok("ClaimJob", job["id"], by=a.org(org).client)
    return job


def fail(a: Alliance, job: dict, by: str = "bank", **body: object) -> dict:
    return a.ok("FailJob", job["id"], json.dumps(body), by=a.org(by).client)


def refused(a: Alliance, job: dict, body: object, by: str = "bank") -> str:
    text = body if isinstance(body, str) else json.dumps(body)
    return a.refused("FailJob", job["id"], text, by=a.org(by).client,
                     error="InvalidArgument").message


@pytest.mark.parametrize(
    "text",
    [
        "bank: input bank/customers:customer_id row 0 is 'C00000', not a number",
        "cannot read /home/bank/data/missing.csv: No such file or directory",
        "ProtocolError: boom",
    ],
)
def test_free_text_is_refused(a: Alliance, text: str) -> None:
    message = refused(a, running(a), text)
    assert "not free text" in message and "input_type_mismatch" in message
    assert text not in message


def test_an_unknown_code_is_refused(a: Alliance) -> None:
    message = refused(a, running(a), {"code": "disk_full"})
    assert "input_unreadable" in message


def test_extra_fields_carrying_text_are_refused(a: Alliance) -> None:
    refused(a, running(a), {"code": "internal_error", "detail": "C00000"})
    refused(a, running(a), {"code": "internal_error", "reason": "C00000"})


def test_the_input_must_be_one_of_the_callers_own_inputs(a: Alliance) -> None:
    job = running(a)
    body = {"code": "input_type_mismatch", "input": "telecom/subscribers:amount", "row": 3}
    assert "not one of bank's inputs" in refused(a, job, body)
    planted = {"code": "input_unreadable", "input": "/home/bank/C00000.csv"}
    assert "not one of bank's inputs" in refused(a, job, planted)


def test_a_row_is_refused_where_the_code_has_none(a: Alliance) -> None:
    refused(a, running(a), {"code": "fingerprint_mismatch", "input": "bank/customers", "row": 2})
    refused(a, running(a), {"code": "input_type_mismatch", "input": "bank/customers:amount",
                            "row": 0})


def test_the_peer_must_be_another_participant(a: Alliance) -> None:
    job = running(a)
    assert "not another participant" in refused(a, job, {"code": "peer_aborted", "peer": "bank"})
    assert "not another participant" in refused(
        a, job, {"code": "peer_aborted", "peer": "C00000"})
    refused(a, job, {"code": "internal_error", "peer": "telecom"})


def test_input_codes_need_their_input(a: Alliance) -> None:
    refused(a, running(a), {"code": "input_unreadable"})


def test_the_published_message_is_the_codes_template(a: Alliance) -> None:
    job = fail(a, running(a), code="input_type_mismatch", input="bank/customers:amount", row=7)
    failure = job["failures"]["bank"]
    assert failure["reason"].startswith(
        "bank's data for input bank/customers:amount holds a value that does not fit the "
        "column's type (data row 7)"
    )
    assert (failure["code"], failure["input"], failure["row"]) == (
        "input_type_mismatch", "bank/customers:amount", 7)
    name, payload = a.event()
    assert name == "JobFailed" and payload["reason"] == failure["reason"]


def test_every_code_has_a_template() -> None:
    assert set(TEMPLATES) == set(FailureCode)
