"""`init_network` writes Fabric's MSP layout, the charter and the profile, and refuses misuse."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from alliance.errors import AllianceError, IdentityError, NetworkDirError, PassphraseError
from alliance.identity import Identity, load_certificate
from alliance.keystore import key_is_encrypted, load_private_key
from alliance.msp import MspRegistry
from alliance.network_init import add_org, init_network
from alliance.profile import load_profile
from alliance.wallet import devnet_tls, load_user, user_tls

ORGS = ("bank", "telecom", "platform", "regulator")


def _cert(path: Path) -> x509.Certificate:
    return load_certificate(path.read_bytes())


@pytest.mark.parametrize("org", [*ORGS, "orderer"])
def test_every_org_has_its_verifying_msp(network_dir: Path, org: str) -> None:
    msp = network_dir / "orgs" / org / "msp"
    for rel in ("cacerts/ca.pem", "tlscacerts/tlsca.pem", "config.yaml"):
        assert (msp / rel).is_file(), rel
    assert (msp / "crls").is_dir()
    config = (msp / "config.yaml").read_text()
    for ou in ("client", "peer", "admin", "orderer"):
        assert f"OrganizationalUnitIdentifier: {ou}" in config
    assert "Certificate: cacerts/ca.pem" in config


def test_member_org_layout(network_dir: Path) -> None:
    org_dir = network_dir / "orgs" / "bank"
    expected = [
        "ca/ca.pem", "ca/ca.key", "tlsca/tlsca.pem", "tlsca/tlsca.key",
        "peers/peer0/msp/cacerts/ca.pem", "peers/peer0/msp/signcerts/cert.pem",
        "peers/peer0/msp/keystore/priv_sk", "peers/peer0/msp/tlscacerts/tlsca.pem",
        "peers/peer0/msp/config.yaml",
        "peers/peer0/tls/ca.crt", "peers/peer0/tls/server.crt", "peers/peer0/tls/server.key",
    ]
    for user in ("admin", "client", "node"):
        expected += [
            f"users/{user}/msp/{rel}"
            for rel in ("cacerts/ca.pem", "signcerts/cert.pem", "keystore/key.pem",
                        "tlscacerts/tlsca.pem", "config.yaml")
        ]
        expected += [f"users/{user}/tls/{f}" for f in ("ca.crt", "client.crt", "client.key")]
    missing = [rel for rel in expected if not (org_dir / rel).is_file()]
    assert missing == []


def test_orderer_org_layout(network_dir: Path) -> None:
    org_dir = network_dir / "orgs" / "orderer"
    assert (org_dir / "orderers/orderer0/msp/keystore/priv_sk").is_file()
    assert (org_dir / "orderers/orderer0/tls/server.crt").is_file()
    assert (org_dir / "users/admin/tls/client.key").is_file()
    assert not (org_dir / "peers").exists()
    orderer = (org_dir / "orderers/orderer0/msp/signcerts/cert.pem").read_bytes()
    assert Identity("OrdererMSP", orderer).role == "orderer"


@pytest.mark.parametrize(
    ("rel", "role", "cn"),
    [
        ("users/admin/msp/signcerts/cert.pem", "admin", "Admin@bank"),
        ("users/client/msp/signcerts/cert.pem", "client", "Client@bank"),
        ("users/node/msp/signcerts/cert.pem", "client", "node.bank"),
        ("peers/peer0/msp/signcerts/cert.pem", "peer", "peer0.bank"),
    ],
)
def test_node_ou_roles(network_dir: Path, rel: str, role: str, cn: str) -> None:
    pem = (network_dir / "orgs" / "bank" / rel).read_bytes()
    identity = Identity("BankMSP", pem)
    assert identity.role == role
    assert identity.common_name == cn


def test_user_keys_encrypted_fabric_keys_not(network_dir: Path) -> None:
    org_dir = network_dir / "orgs" / "bank"
    for rel in ("ca/ca.key", "tlsca/tlsca.key", "users/admin/msp/keystore/key.pem",
                "users/client/tls/client.key", "users/node/msp/keystore/key.pem",
                "users/node/tls/client.key"):
        assert key_is_encrypted(org_dir / rel), rel
    for rel in ("peers/peer0/msp/keystore/priv_sk", "peers/peer0/tls/server.key"):
        assert not key_is_encrypted(org_dir / rel), rel
        load_private_key(org_dir / rel, None)
    assert not key_is_encrypted(network_dir / "devnet/tls/server.key")


def test_ca_certificates(network_dir: Path) -> None:
    ca = _cert(network_dir / "orgs/bank/ca/ca.pem")
    constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints).value
    usage = ca.extensions.get_extension_for_class(x509.KeyUsage).value
    assert constraints.ca and usage.key_cert_sign and usage.crl_sign
    assert (ca.not_valid_after_utc - ca.not_valid_before_utc).days >= 3649


def test_leaf_has_key_identifiers_of_its_ca(network_dir: Path) -> None:
    ca = _cert(network_dir / "orgs/bank/ca/ca.pem")
    leaf = _cert(network_dir / "orgs/bank/users/admin/msp/signcerts/cert.pem")
    ca_ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    aki = leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == ca_ski.digest
    leaf.verify_directly_issued_by(ca)


@pytest.mark.parametrize("rel", ["users/node/tls/client.crt", "peers/peer0/tls/server.crt"])
def test_server_tls_certs_serve_loopback(network_dir: Path, rel: str) -> None:
    cert = _cert(network_dir / "orgs/bank" / rel)
    usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.SERVER_AUTH in usages
    assert ExtendedKeyUsageOID.CLIENT_AUTH in usages
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in san.get_values_for_type(x509.DNSName)
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    cert.verify_directly_issued_by(_cert(network_dir / "orgs/bank/tlsca/tlsca.pem"))


def test_devnet_tls_issued_by_orderer_tls_ca(network_dir: Path) -> None:
    cert = _cert(network_dir / "devnet/tls/server.crt")
    cert.verify_directly_issued_by(_cert(network_dir / "orgs/orderer/tlsca/tlsca.pem"))
    material = devnet_tls(network_dir)
    assert material.private_key.startswith(b"-----BEGIN PRIVATE KEY-----")
    assert (network_dir / "orgs/orderer/tlsca/tlsca.pem").read_bytes() in material.root_certs


def test_user_tls_material_is_decrypted_and_trusts_all_orgs(network_dir: Path) -> None:
    material = user_tls(network_dir, "telecom", "node")
    assert material.private_key.startswith(b"-----BEGIN PRIVATE KEY-----")
    for org in ORGS:
        assert (network_dir / f"orgs/{org}/tlsca/tlsca.pem").read_bytes() in material.root_certs


def test_profile_lists_every_org(network_dir: Path) -> None:
    profile = load_profile(network_dir)
    assert profile.member_orgs() == sorted(ORGS)
    assert profile.orgs["bank"].msp_id == "BankMSP"
    assert profile.orgs["regulator"].roles == ("auditor",)
    assert profile.orgs["orderer"].msp_id == "OrdererMSP"
    assert profile.org_dir(network_dir, "bank") == network_dir / "orgs" / "bank"
    assert 1024 <= profile.devnet.port <= 65535  # fixed at init, kept across down/up


def test_load_user_uses_the_environment_passphrase(network_dir: Path) -> None:
    identity, signer = load_user(network_dir, "platform")
    assert identity.msp_id == "PlatformMSP"
    assert identity.role == "admin"
    assert signer.public_key.public_numbers() == identity.public_key.public_numbers()


def test_load_user_with_wrong_passphrase(network_dir: Path) -> None:
    with pytest.raises(PassphraseError):
        load_user(network_dir, "bank", "admin", b"wrong")


@pytest.mark.parametrize(("org", "user"), [("nobody", "admin"), ("bank", "root")])
def test_load_unknown_org_or_user(network_dir: Path, org: str, user: str) -> None:
    with pytest.raises(IdentityError, match="unknown"):
        load_user(network_dir, org, user, b"test-passphrase")


def test_base_port_assigns_ports(tmp_path: Path) -> None:
    profile = init_network(tmp_path / "net", ["bank", "telecom"], [], b"pw", base_port=20000)
    assert profile.devnet.port == 20000
    assert profile.orderer.port == 20001
    assert (profile.orgs["bank"].node.port, profile.orgs["bank"].peer.port) == (20010, 20011)
    assert (profile.orgs["telecom"].node.port, profile.orgs["telecom"].peer.port) == (20012, 20013)


def test_init_refuses_an_existing_network(network_dir: Path) -> None:
    with pytest.raises(NetworkDirError, match="already holds a network"):
        init_network(network_dir, ["bank"], [], b"pw")


@pytest.mark.parametrize(
    ("members", "auditors"),
    [([], ["regulator"]), (["bank", "bank"], []), (["Bank"], []), (["bank"], ["bank"]),
     (["orderer"], [])],
)
def test_init_refuses_bad_org_lists(
    tmp_path: Path, members: list[str], auditors: list[str]
) -> None:
    with pytest.raises(AllianceError):
        init_network(tmp_path / "net", members, auditors, b"pw")
    assert not (tmp_path / "net" / "orgs").exists()


def test_load_profile_outside_a_network(tmp_path: Path) -> None:
    with pytest.raises(NetworkDirError, match="alliance network init"):
        load_profile(tmp_path)


def test_add_org_makes_a_candidate(tmp_path: Path) -> None:
    net = tmp_path / "net"
    init_network(net, ["bank", "telecom"], [], b"pw", base_port=21000)
    org_dir = add_org(net, "insurer", b"pw")
    assert (org_dir / "users/admin/msp/signcerts/cert.pem").is_file()
    profile = load_profile(net)
    assert profile.orgs["insurer"].candidate
    assert profile.orgs["insurer"].node.port == 21014
    assert "insurer" not in profile.member_orgs()
    identity, _ = load_user(net, "insurer", "admin", b"pw")
    MspRegistry.from_network(net).validate(identity)
    assert "InsurerMSP" not in MspRegistry.from_network(net, include_candidates=False).msp_ids()
    with pytest.raises(NetworkDirError, match="already exists"):
        add_org(net, "insurer", b"pw")


def test_devnet_clients_trust_only_devnets_tls_ca(network_dir: Path) -> None:
    from cryptography import x509

    from alliance.wallet import devnet_tls_ca

    roots = x509.load_pem_x509_certificates(devnet_tls_ca(network_dir))
    assert len(roots) == 1
    server = x509.load_pem_x509_certificate((network_dir / "devnet/tls/server.crt").read_bytes())
    assert roots[0].subject == server.issuer
    peer = x509.load_pem_x509_certificate(
        (network_dir / "orgs/bank/peers/peer0/tls/server.crt").read_bytes()
    )
    assert peer.issuer != roots[0].subject  # a member's peer cannot pose as the ledger


def test_the_charter_names_and_carries_every_founding_admins_signature(network_dir: Path) -> None:
    from alliance.founding import load_signed_charter, verified_charter

    charter = verified_charter(load_signed_charter(network_dir))
    assert sorted(charter.founders) == sorted(ORGS)
    admin = network_dir / "orgs" / "telecom" / "users" / "admin" / "msp" / "signcerts" / "cert.pem"
    assert charter.founders["telecom"] == Identity("TelecomMSP", admin.read_bytes()).fingerprint
