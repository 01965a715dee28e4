"""A psi job must be the intersection of two members' id columns, with outputs only to them."""

from __future__ import annotations

import pytest
from contract_helpers import Alliance, founded, job_request

PSI_OUTPUTS = {"cardinality": ["bank", "telecom"], "intersection": ["bank"]}


@pytest.fixture
def a() -> Alliance:
    return founded()


def psi(inputs: list[str], outputs: dict[str, list[str]], **overrides: object) -> str:
    return job_request(inputs, outputs, protocol="psi", parameters={}, **overrides)


def test_two_owners_with_outputs_to_themselves_is_accepted(a: Alliance) -> None:
    job = a.ok(
        "RequestJob",
        psi(["bank/customers:id", "telecom/subscribers:id"], PSI_OUTPUTS),
        by="telecom",
    )
    assert job["participants"] == ["bank", "telecom"]
    assert job["required_approvers"] == ["bank"]


def test_three_inputs_are_refused(a: Alliance) -> None:
    response = a.refused(
        "RequestJob",
        psi(["bank/customers:id", "telecom/subscribers:id", "platform/users:id"], PSI_OUTPUTS),
        by="telecom",
        error="InvalidArgument",
    )
    assert "exactly two id columns" in response.message


def test_two_columns_of_one_owner_are_refused(a: Alliance) -> None:
    response = a.refused(
        "RequestJob",
        psi(["bank/customers:id", "bank/customers:amount"], {"cardinality": ["bank"]}),
        by="bank",
        error="InvalidArgument",
    )
    assert "two different members" in response.message


def test_intersection_to_a_third_member_is_refused(a: Alliance) -> None:
    response = a.refused(
        "RequestJob",
        psi(["bank/customers:id", "telecom/subscribers:id"], {"intersection": ["platform"]}),
        by="platform",
        error="InvalidArgument",
    )
    assert "only to the input owners, not to platform" in response.message
