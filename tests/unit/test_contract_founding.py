"""InitCharter takes the founding charter only with every founding admin's signature over it."""

from __future__ import annotations

import base64
import json

import pytest
from contract_helpers import Alliance, org_identities, signed_charter, with_founders

from alliance.charter import Charter

CHARTER = Charter.founding(["bank", "telecom", "platform"], ["regulator"])


def test_a_charter_signed_by_every_founder_is_accepted() -> None:
    a = Alliance()
    charter = a.ok("InitCharter", signed_charter(CHARTER), by="bank")
    assert charter["founders"]["telecom"] == org_identities("telecom").admin.fingerprint


def test_an_unsigned_charter_is_refused() -> None:
    response = Alliance().refused("InitCharter", CHARTER.to_json().decode(), by="bank",
                                  error="InvalidArgument")
    assert "founders' signatures" in response.message


def test_a_charter_naming_no_founders_is_refused() -> None:
    body = json.dumps({"charter": CHARTER.model_dump(mode="json"), "signatures": {}})
    response = Alliance().refused("InitCharter", body, by="bank", error="InvalidArgument")
    assert "names no founding admin certificate for bank, platform, regulator, telecom" in (
        response.message)


def test_a_missing_founder_signature_is_refused() -> None:
    body = json.loads(signed_charter(CHARTER))
    del body["signatures"]["telecom"]
    response = Alliance().refused("InitCharter", json.dumps(body), by="bank",
                                  error="InvalidArgument")
    assert "telecom's founding admin has not signed the charter" in response.message


def test_a_forged_founder_signature_is_refused() -> None:
    body = json.loads(signed_charter(CHARTER))
    # bank's admin signs in telecom's name, with telecom's certificate attached
    forged = org_identities("bank").admin_signer.sign(b"\x00" * 32)
    body["signatures"]["telecom"]["signature"] = base64.b64encode(forged).decode()
    response = Alliance().refused("InitCharter", json.dumps(body), by="bank",
                                  error="InvalidArgument")
    assert "telecom's signature does not verify" in response.message


def test_a_signature_by_another_certificate_than_the_named_one_is_refused() -> None:
    body = json.loads(signed_charter(CHARTER))
    body["signatures"]["telecom"] = body["signatures"]["bank"]
    response = Alliance().refused("InitCharter", json.dumps(body), by="bank",
                                  error="InvalidArgument")
    assert "not the founding admin certificate the charter names" in response.message


@pytest.mark.parametrize(
    "change",
    [
        {"membership_threshold_pct": 34},
        {"voted_protocols": ["psi"]},
        {"name": "bank-rules"},
    ],
)
def test_a_charter_altered_after_signing_is_refused(change: dict) -> None:
    body = json.loads(signed_charter(CHARTER))
    body["charter"].update(change)
    response = Alliance().refused("InitCharter", json.dumps(body), by="bank",
                                  error="InvalidArgument")
    assert "the charter was changed after signing" in response.message


def test_a_charter_renaming_a_founders_certificate_after_signing_is_refused() -> None:
    # bank names its own second admin as telecom's founder after everyone signed: telecom's
    # signature no longer matches the certificate named, and the charter's hash changed
    charter = with_founders(CHARTER)
    founders = dict(charter.founders)
    founders["telecom"] = org_identities("bank").extra_admin.fingerprint
    altered = Charter.model_validate({**charter.model_dump(), "founders": founders})
    body = json.loads(signed_charter(CHARTER))
    body["charter"] = altered.model_dump(mode="json")
    response = Alliance().refused("InitCharter", json.dumps(body), by="bank",
                                  error="InvalidArgument")
    assert "telecom" in response.message


def test_only_the_named_founding_admin_may_submit() -> None:
    response = Alliance().refused("InitCharter", signed_charter(CHARTER),
                                  by=org_identities("bank").extra_admin, error="NotAuthorized")
    assert "founding admin" in response.message
