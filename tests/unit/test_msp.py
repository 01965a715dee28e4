"""MspRegistry.validate: only live certificates issued by the claimed MSP's own CA pass."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from alliance.errors import IdentityError
from alliance.identity import Identity
from alliance.keystore import load_private_key
from alliance.msp import MspRegistry, load_msp, revoke_certificate
from alliance.network_init import CertificateAuthority, init_network, new_key
from alliance.wallet import load_user


@pytest.fixture(scope="module")
def registry(network_dir: Path) -> MspRegistry:
    return MspRegistry.from_network(network_dir)


def _bank_ca(net: Path, passphrase: bytes) -> CertificateAuthority:
    from alliance.identity import load_certificate

    cert = load_certificate((net / "orgs/bank/ca/ca.pem").read_bytes())
    return CertificateAuthority(cert, load_private_key(net / "orgs/bank/ca/ca.key", passphrase))


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(Encoding.PEM)


def test_registry_knows_every_org(registry: MspRegistry) -> None:
    assert registry.msp_ids() == sorted(
        ["BankMSP", "TelecomMSP", "PlatformMSP", "RegulatorMSP", "OrdererMSP"]
    )


@pytest.mark.parametrize("user", ["admin", "client", "node"])
def test_generated_identities_validate(
    network_dir: Path, registry: MspRegistry, passphrase: bytes, user: str
) -> None:
    identity, _ = load_user(network_dir, "telecom", user, passphrase)
    registry.validate(identity)


def test_unknown_msp_id_is_rejected(
    network_dir: Path, registry: MspRegistry, passphrase: bytes
) -> None:
    identity, _ = load_user(network_dir, "bank", "admin", passphrase)
    with pytest.raises(IdentityError, match="unknown MSP id 'MalloryMSP'"):
        registry.validate(Identity("MalloryMSP", identity.certificate))


def test_cert_of_another_org_claiming_the_msp_is_rejected(
    network_dir: Path, registry: MspRegistry, passphrase: bytes
) -> None:
    telecom, _ = load_user(network_dir, "telecom", "admin", passphrase)
    with pytest.raises(IdentityError, match="not issued by the CA of BankMSP"):
        registry.validate(Identity("BankMSP", telecom.certificate))


def test_foreign_ca_copying_the_names_is_rejected(registry: MspRegistry) -> None:
    # A CA with exactly the bank CA's subject, but its own key: names prove nothing.
    forger = CertificateAuthority.create("bank", "ca.bank")
    key = new_key()
    cert = forger.issue(key.public_key(), org="bank", common_name="Admin@bank", ou="admin")
    with pytest.raises(IdentityError, match="not issued by the CA of BankMSP"):
        registry.validate(Identity("BankMSP", _pem(cert)))


def test_expired_cert_is_rejected(
    network_dir: Path, registry: MspRegistry, passphrase: bytes
) -> None:
    ca = _bank_ca(network_dir, passphrase)
    cert = ca.issue(
        new_key().public_key(), org="bank", common_name="Old@bank", ou="client",
        validity=timedelta(days=1), not_before=datetime.now(UTC) - timedelta(days=3),
    )
    with pytest.raises(IdentityError, match="expired"):
        registry.validate(Identity("BankMSP", _pem(cert)))


def test_not_yet_valid_cert_is_rejected(
    network_dir: Path, registry: MspRegistry, passphrase: bytes
) -> None:
    ca = _bank_ca(network_dir, passphrase)
    cert = ca.issue(
        new_key().public_key(), org="bank", common_name="Future@bank", ou="client",
        not_before=datetime.now(UTC) + timedelta(days=2),
    )
    with pytest.raises(IdentityError, match="not valid before"):
        registry.validate(Identity("BankMSP", _pem(cert)))


def test_validity_is_checked_at_the_given_time(
    network_dir: Path, registry: MspRegistry, passphrase: bytes
) -> None:
    identity, _ = load_user(network_dir, "bank", "client", passphrase)
    with pytest.raises(IdentityError, match="expired"):
        registry.validate(identity, at=datetime.now(UTC) + timedelta(days=400))


def test_ca_certificate_cannot_act_as_identity(network_dir: Path, registry: MspRegistry) -> None:
    ca_pem = (network_dir / "orgs/bank/ca/ca.pem").read_bytes()
    with pytest.raises(IdentityError, match="CA certificate"):
        registry.validate(Identity("BankMSP", ca_pem))


def test_revoked_cert_is_rejected(tmp_path: Path) -> None:
    net = tmp_path / "net"
    init_network(net, ["bank", "telecom"], [], b"pw")
    victim, _ = load_user(net, "bank", "client", b"pw")
    bystander, _ = load_user(net, "bank", "admin", b"pw")
    MspRegistry.from_network(net).validate(victim)

    crl = revoke_certificate(net, "bank", victim.certificate, b"pw")

    assert crl == net / "orgs/bank/msp/crls/crl.pem"
    assert victim.cert.serial_number in load_msp(net / "orgs/bank/msp", "BankMSP").revoked_serials
    registry = MspRegistry.from_network(net)
    with pytest.raises(IdentityError, match="revoked"):
        registry.validate(victim)
    registry.validate(bystander)
    # a second revocation keeps the first
    revoke_certificate(net, "bank", bystander.certificate, b"pw")
    registry = MspRegistry.from_network(net)
    for identity in (victim, bystander):
        with pytest.raises(IdentityError, match="revoked"):
            registry.validate(identity)


def test_org_cannot_revoke_another_orgs_cert(tmp_path: Path) -> None:
    net = tmp_path / "net"
    init_network(net, ["bank", "telecom"], [], b"pw")
    telecom, _ = load_user(net, "telecom", "admin", b"pw")
    with pytest.raises(IdentityError, match="not issued by bank's CA"):
        revoke_certificate(net, "bank", telecom.certificate, b"pw")


def test_forged_crl_is_refused(tmp_path: Path) -> None:
    net = tmp_path / "net"
    init_network(net, ["bank"], [], b"pw")
    other = tmp_path / "other"
    init_network(other, ["bank"], [], b"pw")
    victim, _ = load_user(other, "bank", "client", b"pw")
    forged = revoke_certificate(other, "bank", victim.certificate, b"pw")
    (net / "orgs/bank/msp/crls/crl.pem").write_bytes(forged.read_bytes())
    with pytest.raises(IdentityError, match="not signed by any CA"):
        load_msp(net / "orgs/bank/msp", "BankMSP")


def test_tls_roots_hold_every_orgs_tls_ca(network_dir: Path, registry: MspRegistry) -> None:
    roots = registry.tls_roots_pem()
    assert roots.count(b"BEGIN CERTIFICATE") == 5


def test_a_revoked_cert_still_verifies_at_a_moment_before_its_revocation(tmp_path: Path) -> None:
    """verify-chain checks each block's signers as of the block's time: a certificate the CRL
    revokes later was valid then (the CRL's dates are whole seconds)."""
    net = tmp_path / "net"
    init_network(net, ["bank", "telecom"], [], b"pw")
    victim, _ = load_user(net, "bank", "client", b"pw")
    before = datetime.now(UTC) - timedelta(minutes=5)
    revoke_certificate(net, "bank", victim.certificate, b"pw")
    registry = MspRegistry.from_network(net)
    registry.validate(victim, before)
    with pytest.raises(IdentityError, match="revoked"):
        registry.validate(victim, datetime.now(UTC) + timedelta(seconds=2))
    with pytest.raises(IdentityError, match="revoked"):
        registry.validate(victim)
