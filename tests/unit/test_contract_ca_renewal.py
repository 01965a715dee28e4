"""RenewCertificateAuthority / EndCaOverlap: after an org renews its CA, the contract takes its
certificates from the old root only until the overlap ends, from the new root from the start,
and from no other root; tries to break each rule."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from contract_helpers import START, Alliance, founded

from alliance.identity import Identity
from alliance.network_init import CertificateAuthority, cert_pem, new_key

DAY = 24 * 3600


def _identity(ca: CertificateAuthority, org: str, cn: str, ou: str = "admin") -> Identity:
    cert = ca.issue(new_key().public_key(), org=org, common_name=cn, ou=ou,
                    not_before=datetime.fromtimestamp(START, UTC) - timedelta(days=1))
    return Identity(msp_id=f"{org.capitalize()}MSP", certificate=cert_pem(cert))


def _ca(org: str, cn: str) -> CertificateAuthority:
    return CertificateAuthority.create(org, cn)


def _renewal(old: CertificateAuthority, new: CertificateAuthority, overlap: int,
             old_tls: CertificateAuthority | None = None,
             new_tls: CertificateAuthority | None = None) -> str:
    old_tls = old_tls or _ca("bank", "tlsca.bank")
    new_tls = new_tls or _ca("bank", "tlsca2.bank")
    return json.dumps({"ca": new.pem.decode(), "tlsca": new_tls.pem.decode(),
                       "previous_ca": old.pem.decode(), "previous_tlsca": old_tls.pem.decode(),
                       "overlap_seconds": overlap})


def _renewed(overlap: int = DAY) -> tuple[Alliance, Identity, Identity, int]:
    """bank renews from `old` to `new` (TLS roots alike) at a known time; its old- and new-CA
    admins, and that time."""
    a = founded()
    old, new = _ca("bank", "ca.bank"), _ca("bank", "ca2.bank")
    old_admin, new_admin = _identity(old, "bank", "Admin@bank"), _identity(new, "bank", "A2@bank")
    at = START + 1000
    a.ok("RenewCertificateAuthority",
         _renewal(old, new, overlap, _ca("bank", "tlsca.bank"), _ca("bank", "tlsca2.bank")),
         by=old_admin, timestamp=at)
    return a, old_admin, new_admin, at


def test_both_roots_are_trusted_during_the_overlap() -> None:
    a, old_admin, new_admin, at = _renewed()
    assert a.ok("ListMembers", by=old_admin, timestamp=at + DAY - 1)
    assert a.ok("ListMembers", by=new_admin, timestamp=at + 10)
    assert a.ok("RegisterDataset", json.dumps({
        "name": "loans", "schema": [{"name": "id", "type": "string"}], "row_count": 1,
        "fingerprint": "sha256:" + "ab" * 32}), by=old_admin, timestamp=at + 20)


def test_after_the_overlap_the_old_root_is_refused_and_the_new_one_works() -> None:
    a, old_admin, new_admin, at = _renewed()
    refused = a.refused("ListMembers", by=old_admin, timestamp=at + DAY, error="NotAuthorized")
    assert "retired" in refused.message and "renew-ca" in refused.message
    assert a.ok("ListMembers", by=new_admin, timestamp=at + DAY)


def test_a_certificate_of_an_unrecorded_root_is_refused_once_the_org_renewed() -> None:
    a, _, _, at = _renewed()
    stranger = _identity(_ca("bank", "ca.bank"), "bank", "Admin@bank")  # same names, other key
    refused = a.refused("ListMembers", by=stranger, timestamp=at + 5, error="NotAuthorized")
    assert "not issued by any ca root" in refused.message


def test_end_ca_overlap_retires_the_old_root_at_once() -> None:
    a, old_admin, new_admin, at = _renewed(overlap=30 * DAY)
    a.ok("EndCaOverlap", by=new_admin, timestamp=at + 60)
    a.refused("ListMembers", by=old_admin, timestamp=at + 61, error="NotAuthorized")
    assert a.ok("ListMembers", by=new_admin, timestamp=at + 61)
    a.refused("EndCaOverlap", by=new_admin, timestamp=at + 62, error="Conflict")
    [record] = a.ok("ListCertificateAuthorities", by="telecom", timestamp=at + 62)
    assert record["org"] == "bank"
    assert sorted(r["retired_at"] for r in record["roots"] if r["retired_at"]) == [at + 60] * 2


def test_other_orgs_are_not_affected() -> None:
    a, _, _, at = _renewed(overlap=0)
    assert a.ok("ListMembers", by="telecom", timestamp=at + 10)


def test_the_renewal_must_be_signed_by_a_certificate_of_the_old_or_new_root() -> None:
    a = founded()
    old, new = _ca("bank", "ca.bank"), _ca("bank", "ca2.bank")
    refused = a.refused("RenewCertificateAuthority", _renewal(old, new, DAY), by="bank",
                        error="NotAuthorized")
    assert "previous or new CA" in refused.message
    assert a.ok("ListMembers", by="bank")  # nothing was recorded


def test_a_root_of_another_org_or_a_leaf_is_not_a_root() -> None:
    a = founded()
    old = _ca("bank", "ca.bank")
    admin = _identity(old, "bank", "Admin@bank")
    refused = a.refused("RenewCertificateAuthority", _renewal(old, _ca("telecom", "ca"), DAY),
                        by=admin, error="InvalidArgument")
    assert "'telecom'" in refused.message
    tls = _ca("bank", "tlsca.bank")
    leaf = {"ca": admin.certificate.decode(), "tlsca": _ca("bank", "t2").pem.decode(),
            "previous_ca": old.pem.decode(), "previous_tlsca": tls.pem.decode(),
            "overlap_seconds": 0}
    refused = a.refused("RenewCertificateAuthority", json.dumps(leaf), by=admin,
                        error="InvalidArgument")
    assert "not a CA certificate" in refused.message


def test_only_an_admin_renews_and_an_overlap_is_bounded() -> None:
    a = founded()
    old, new = _ca("bank", "ca.bank"), _ca("bank", "ca2.bank")
    client = _identity(old, "bank", "client@bank", ou="client")
    a.refused("RenewCertificateAuthority", _renewal(old, new, DAY), by=client,
              error="NotAuthorized")
    admin = _identity(old, "bank", "Admin@bank")
    a.refused("RenewCertificateAuthority", _renewal(old, new, 91 * DAY), by=admin,
              error="InvalidArgument")


def test_renewing_again_needs_the_root_in_force() -> None:
    a, _, new_admin, at = _renewed(overlap=0)
    third = _ca("bank", "ca3.bank")
    stale = _ca("bank", "ca.bank")  # not the recorded previous root
    refused = a.refused("RenewCertificateAuthority", _renewal(stale, third, 0), by=new_admin,
                        timestamp=at + 5, error="InvalidArgument")
    assert "not a root of bank in force" in refused.message
