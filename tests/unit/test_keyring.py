"""An org's identities and their state: expiry warnings 30 days ahead, CRL reasons, ledger
revocations (pure status logic, and `alliance doctor` over a generated network)."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from alliance.cli import main
from alliance.identity import load_certificate
from alliance.keyring import EXPIRY_WARNING_DAYS, fingerprint, list_keys, status
from alliance.keystore import load_private_key
from alliance.network_init import CertificateAuthority, cert_pem, new_key


def _cert(days: float):  # type: ignore[no-untyped-def]
    ca = CertificateAuthority.create("bank", "ca.bank")
    start = datetime.now(UTC) - timedelta(days=2) if days < 0 else None
    return ca.issue(new_key().public_key(), org="bank", common_name="Client@bank",
                    ou="client", validity=timedelta(days=days + 2 if days < 0 else days),
                    not_before=start)




@pytest.mark.parametrize(
    ("days", "expected"),
    [(365, "active"), (EXPIRY_WARNING_DAYS + 2, "active"), (10, "expiring in 9 days"),
     (-1, "expired")],
)
def test_expiry_is_flagged_within_thirty_days(days: float, expected: str) -> None:
    cert = _cert(days)
    assert status(cert, datetime.now(UTC)) == expected


def test_revocations_come_before_expiry() -> None:
    cert = _cert(10)
    now = datetime.now(UTC)
    assert status(cert, now, crl={cert.serial_number: "keyCompromise"}) == "revoked (keyCompromise)"
    assert status(cert, now, revoked_on_ledger=[fingerprint(cert)]) == "revoked-on-ledger"


def test_doctor_flags_a_certificate_about_to_expire(
    network_dir: Path, tmp_path: Path, passphrase: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    net = tmp_path / "net"
    shutil.copytree(network_dir, net, ignore=shutil.ignore_patterns("run", "*.sqlite*"))
    assert main(["doctor", "--dir", str(net)]) == 0
    # the org's CA issues platform's client a certificate with 5 days left
    org_dir = net / "orgs" / "platform"
    ca = CertificateAuthority(load_certificate((org_dir / "ca" / "ca.pem").read_bytes()),
                              load_private_key(org_dir / "ca" / "ca.key", passphrase))
    cert_path = org_dir / "users" / "client" / "msp" / "signcerts" / "cert.pem"
    old = load_certificate(cert_path.read_bytes())
    short = ca.issue(old.public_key(), org="platform", common_name="Client@platform",
                     ou="client", validity=timedelta(days=5))
    cert_path.write_bytes(cert_pem(short))
    capsys.readouterr()
    assert main(["doctor", "--dir", str(net)]) == 1
    out = capsys.readouterr().out
    assert "platform client: expiring in 4 days" in out
    entries = {e.identity: e for e in list_keys(net, "platform")}
    assert entries["client"].status == "expiring in 4 days"
    assert entries["ca"].status == "active"


def test_doctor_flags_a_ca_overlap_that_ends_soon_or_is_over(
    network_dir: Path, tmp_path: Path, passphrase: bytes,
) -> None:
    import time

    from alliance.ca_renewal import start
    from alliance.keyring import expiry_warnings

    net = tmp_path / "net"
    shutil.copytree(network_dir, net, ignore=shutil.ignore_patterns("run", "*.sqlite*"))
    start(net, "telecom", passphrase, int(time.time()) + 10 * 86400)
    [line] = [w for w in expiry_warnings(net, ["telecom"]) if "old CA" in w]
    assert "trusted until" in line and "in 9 days" in line
    later = datetime.now(UTC) + timedelta(days=11)
    [line] = [w for w in expiry_warnings(net, ["telecom"], later) if "old CA" in w]
    assert "keys renew-ca --finish" in line
    assert not [w for w in expiry_warnings(net, ["bank"]) if "old CA" in w]
