"""The founding charter takes effect only when every founding org accepted it by its own
transaction: one founder cannot found the alliance alone by naming certificates it made itself."""

from __future__ import annotations

import datetime as dt

import pytest
from contract_helpers import Alliance, org_identities, signed_charter
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from alliance.charter import Charter, msp_id_for
from alliance.founding import sign_charter
from alliance.identity import Identity
from alliance.signing import EcdsaSigner

CHARTER = Charter.founding(["bank", "telecom", "platform"], ["regulator"])


def self_made_admin(org: str) -> tuple[Identity, EcdsaSigner]:
    """An "admin" certificate for `org` issued by nobody's CA (self-signed)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "admin"),
                      x509.NameAttribute(NameOID.COMMON_NAME, f"Admin@{org}")])
    start = dt.datetime(2023, 1, 1, tzinfo=dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(9).not_valid_before(start)
            .not_valid_after(start + dt.timedelta(days=3650)).sign(key, hashes.SHA256()))
    pem = cert.public_bytes(serialization.Encoding.PEM)
    return Identity(msp_id_for(org), pem), EcdsaSigner(key)


def forged_by_bank() -> tuple[Alliance, dict, dict[str, tuple[Identity, EcdsaSigner]]]:
    """bank's admin submits a charter naming self-made admins for the other founders, all
    "signed", with a 1% threshold."""
    signers = {"bank": (org_identities("bank").admin, org_identities("bank").admin_signer)}
    for org in ("telecom", "platform", "regulator"):
        signers[org] = self_made_admin(org)
    charter = Charter.model_validate({**CHARTER.model_dump(), "membership_threshold_pct": 1,
                                      "founders": {o: s[0].fingerprint
                                                   for o, s in signers.items()}})
    a = Alliance()
    status = a.ok("InitCharter", sign_charter(charter, signers).to_json().decode(), by="bank")
    return a, status, signers


def test_a_founder_alone_with_self_made_founder_certificates_founds_nothing() -> None:
    a, status, _ = forged_by_bank()
    assert status["state"] == "pending"
    assert status["awaiting"] == ["platform", "regulator", "telecom"]
    response = a.refused("GetCharter", by="bank", error="NotFound")
    assert "has not taken effect" in response.message


def test_the_real_org_admin_cannot_accept_a_charter_naming_another_certificate() -> None:
    a, status, _ = forged_by_bank()
    response = a.refused("AcceptCharter", status["charter_hash"], by="telecom",
                         error="NotAuthorized")
    assert "founding admin" in response.message


def test_the_forged_charter_stays_pending_while_the_agreed_one_takes_effect() -> None:
    # (a self-made certificate cannot even submit as TelecomMSP: the ledger's MSP refuses its
    # transactions, see tests/integration/test_devnet_contract.py)
    a, forged, _ = forged_by_bank()
    real = a.found(CHARTER)
    assert real["charter_hash"] != forged["charter_hash"]
    assert a.ok("GetCharter", by="telecom")["membership_threshold_pct"] == 66


def test_pending_charter_is_accepted_in_effect_by_the_last_founder() -> None:
    a = Alliance()
    status = a.ok("InitCharter", signed_charter(CHARTER), by="bank")
    assert a.event()[0] == "CharterSubmitted"
    for org in ("telecom", "platform"):
        status = a.ok("AcceptCharter", status["charter_hash"], by=org)
        name, payload = a.event()
        assert (name, payload["org"], payload["state"]) == ("CharterAccepted", org, "pending")
        a.refused("GetCharter", by="bank", error="NotFound")
    assert status["awaiting"] == ["regulator"]
    status = a.ok("AcceptCharter", status["charter_hash"], by="regulator")  # auditors found too
    assert status["state"] == "in_effect"
    name, payload = a.event()
    assert (name, payload["charter_hash"]) == ("CharterInitialized", status["charter_hash"])
    assert a.ok("GetCharter", by="regulator")["name"] == "alliance"


@pytest.mark.parametrize(
    ("function", "args"),
    [
        ("RegisterDataset", ('{"name": "customers"}',)),
        ("ProposeMember", ('{"action": "join", "org": "insurer"}',)),
        ("ListJobs", ()),
        ("ListMembers", ()),
    ],
)
def test_nothing_else_works_before_every_founder_accepted(function: str,
                                                          args: tuple[str, ...]) -> None:
    a = Alliance()
    status = a.ok("InitCharter", signed_charter(CHARTER), by="bank")
    a.ok("AcceptCharter", status["charter_hash"], by="telecom")
    response = a.refused(function, *args, by="bank", error="NotFound")
    assert "awaits acceptance by platform, regulator" in response.message
    assert "`alliance network up`" in response.message
    assert "accept-charter" in response.message


def test_a_non_founder_cannot_accept() -> None:
    a = Alliance()
    status = a.ok("InitCharter", signed_charter(CHARTER), by="bank")
    response = a.refused("AcceptCharter", status["charter_hash"], by="insurer",
                         error="NotAuthorized")
    assert "not a founding org" in response.message


@pytest.mark.parametrize("certificate", ["client", "peer", "extra_admin"])
def test_only_the_founding_admin_certificate_accepts(certificate: str) -> None:
    a = Alliance()
    status = a.ok("InitCharter", signed_charter(CHARTER), by="bank")
    creator = getattr(org_identities("regulator"), certificate)
    a.refused("AcceptCharter", status["charter_hash"], by=creator, error="NotAuthorized")
    assert "regulator" in a.ok("AcceptCharter", status["charter_hash"], by="regulator")[
        "accepted"]


def test_accepting_another_hash_is_refused() -> None:
    a = Alliance()
    status = a.ok("InitCharter", signed_charter(CHARTER), by="bank")
    other = "sha256:" + "0" * 64
    response = a.refused("AcceptCharter", other, by="telecom", error="NotFound")
    assert other in response.message
    a.refused("AcceptCharter", "not-a-hash", by="telecom", error="InvalidArgument")
    assert a.ok("AcceptCharter", status["charter_hash"], by="telecom")["accepted"] == [
        "bank", "telecom"]


def test_accepting_twice_counts_once() -> None:
    a = Alliance()
    status = a.ok("InitCharter", signed_charter(CHARTER), by="bank")
    a.ok("AcceptCharter", status["charter_hash"], by="telecom")
    again = a.ok("AcceptCharter", status["charter_hash"], by="telecom")
    assert again["awaiting"] == ["platform", "regulator"]
    again = a.ok("InitCharter", signed_charter(CHARTER), by="bank")  # the submitter's, again
    assert again["accepted"] == ["bank", "telecom"]
    assert a.ok("AcceptCharter", status["charter_hash"], by="bank")["state"] == "pending"
    a.refused("GetCharter", by="bank", error="NotFound")


def test_accepting_after_it_took_effect_is_harmless_and_another_charter_is_refused() -> None:
    a = Alliance()
    status = a.found(CHARTER)
    assert a.ok("AcceptCharter", status["charter_hash"], by="telecom")["state"] == "in_effect"
    response = a.refused("AcceptCharter", "sha256:" + "1" * 64, by="telecom", error="Conflict")
    assert "already in effect" in response.message
    other = Charter.model_validate({**CHARTER.model_dump(), "name": "other"})
    a.refused("InitCharter", signed_charter(other), by="telecom", error="Conflict")


def test_a_second_pending_charter_does_not_block_the_agreed_one() -> None:
    # a founder may submit its own charter first; the one every founder accepts takes effect
    a = Alliance()
    rival = Charter.model_validate({**CHARTER.model_dump(), "membership_threshold_pct": 34})
    a.ok("InitCharter", signed_charter(rival), by="telecom")
    status = a.found(CHARTER)
    assert status["state"] == "in_effect"
    assert a.ok("GetCharter", by="bank")["membership_threshold_pct"] == 66
