"""RequestJob checks parameters, column types and shape against the protocol's spec, at request
(not at run time), and says what it accepts."""

from __future__ import annotations

import pytest
from contract_helpers import Alliance, founded, job_request

AMOUNTS = ["bank/customers:amount", "telecom/subscribers:amount"]
IDS = ["bank/customers:id", "telecom/subscribers:id"]
PSI_OUTPUTS = {"cardinality": ["bank", "telecom"], "intersection": ["bank"]}


@pytest.fixture
def a() -> Alliance:
    return founded()


@pytest.mark.parametrize(
    ("parameters", "says"),
    [
        ({"op": "median"}, "op='median' is not one of sum, mean, count, histogram, elementwise"),
        ({"op": "histogram"}, "op=histogram needs bins="),
        ({"op": "histogram", "bins": "10,5"}, "strictly increasing"),
        ({"op": "sum", "bins": "0,10"}, "bins applies to op=histogram only"),
        ({"op": "sum", "scale_bits": "40"}, "outside 0..32"),
        ({}, "stats needs parameter op"),
        ({"op": "sum", "engine": "ecdh"}, "stats has no parameter 'engine'"),
    ],
)
def test_bad_stats_parameters_are_refused_at_request(
    a: Alliance, parameters: dict, says: str
) -> None:
    response = a.refused("RequestJob", job_request(AMOUNTS, parameters=parameters),
                         by="telecom", error="InvalidArgument")
    assert says in response.message


def test_stats_on_a_string_column_is_refused_at_request(a: Alliance) -> None:
    response = a.refused("RequestJob", job_request(["bank/customers:id"]), by="telecom",
                         error="InvalidArgument")
    assert "bank/customers:id: its column is of type string" in response.message
    assert "integer or decimal" in response.message


@pytest.mark.parametrize(
    ("parameters", "says"),
    [
        ({"normalize": "bogus"}, "unknown normalisation step(s) bogus"),
        ({"engine": "quantum"}, "engine='quantum' is not one of auto, ecdh, kkrt"),
        ({"op": "sum"}, "psi has no parameter 'op'"),
    ],
)
def test_bad_psi_parameters_are_refused_at_request(
    a: Alliance, parameters: dict, says: str
) -> None:
    body = job_request(IDS, PSI_OUTPUTS, protocol="psi", parameters=parameters)
    response = a.refused("RequestJob", body, by="telecom", error="InvalidArgument")
    assert says in response.message


def test_psi_with_a_dealer_is_refused(a: Alliance) -> None:
    body = job_request(IDS, PSI_OUTPUTS, protocol="psi", parameters={}, dealer="platform")
    response = a.refused("RequestJob", body, by="telecom", error="InvalidArgument")
    assert "psi needs no dealer" in response.message


def test_good_parameters_are_accepted_and_types_pinned(a: Alliance) -> None:
    job = a.request("telecom", AMOUNTS, parameters={"op": "histogram", "bins": "0,10,100"})
    assert [i["column_type"] for i in job["inputs"]] == ["integer", "integer"]
    psi = a.request("telecom", IDS, PSI_OUTPUTS, protocol="psi",
                    parameters={"normalize": "trim,lower", "engine": "ecdh"})
    assert psi["state"] == "REQUESTED"


def test_refused_request_writes_nothing(a: Alliance) -> None:
    before = dict(a.stub.state)
    a.refused("RequestJob", job_request(AMOUNTS, parameters={"op": "median"}), by="telecom",
              error="InvalidArgument")
    assert dict(a.stub.state) == before
