"""A certificate revoked by its org's CA is refused by Fabric's own peers once the CRL is in the
org's channel MSP (`revocation_list`), put there by a channel config update that a majority of
the member admins sign (network.fabric.crl_update). The certificate is a second admin of telecom
minted for this test, and the ledger is never told: the refusal is the peer's MSP's."""

from __future__ import annotations

import time
from datetime import timedelta

from conftest import Fabric, dataset_spec
from cryptography import x509

from alliance.identity import Identity, load_certificate
from alliance.keystore import load_private_key
from alliance.msp import revoke_certificate
from alliance.network_init import CertificateAuthority, cert_pem, new_key
from alliance.signing import EcdsaSigner
from network.fabric import gateway_endpoint
from network.fabric.crl_update import majority_signers, push_crl
from network.gateway import connect


def _second_admin(fabric: Fabric) -> tuple[Identity, EcdsaSigner]:
    org_dir = fabric.net_dir / "orgs" / "telecom"
    ca = CertificateAuthority(load_certificate((org_dir / "ca" / "ca.pem").read_bytes()),
                              load_private_key(org_dir / "ca" / "ca.key", fabric.passphrase))
    key = new_key()
    cert = ca.issue(key.public_key(), org="telecom", common_name="Admin2@telecom", ou="admin",
                    validity=timedelta(days=30))
    return Identity(msp_id="TelecomMSP", certificate=cert_pem(cert)), EcdsaSigner(key)


def _register(fabric: Fabric, identity: Identity, signer: EcdsaSigner, name: str) -> None:
    host, port, root = gateway_endpoint(fabric.net_dir, "telecom")
    with connect(f"{host}:{port}", identity=identity, signer=signer, tls_root_certs=root) as gw:
        fabric.contract(gw).submit_transaction("RegisterDataset", dataset_spec(name))


def test_majority_signers_start_with_the_org(fabric: Fabric) -> None:
    assert majority_signers(fabric.net_dir, "telecom") == ["telecom", "bank"]


def test_a_crl_in_the_channel_msp_makes_the_peer_refuse_the_certificate(fabric: Fabric) -> None:
    identity, signer = _second_admin(fabric)
    _register(fabric, identity, signer, "before-crl")  # a valid admin of telecom acts
    revoke_certificate(fabric.net_dir, "telecom", identity.certificate, fabric.passphrase,
                       x509.ReasonFlags.key_compromise)
    push_crl(fabric.net_dir, "telecom", fabric.passphrase,
             majority_signers(fabric.net_dir, "telecom"))
    refused = None
    deadline = time.monotonic() + 120  # the config block commits on every peer
    while time.monotonic() < deadline and refused is None:
        try:
            _register(fabric, identity, signer, f"after-crl-{int(time.monotonic() * 1000)}")
            time.sleep(1)
        except Exception as exc:  # the peer's refusal
            refused = exc
    assert refused is not None, "the peer still accepts the revoked certificate"
    # whichever of Fabric's own components applied the config block first refuses it: the
    # peer's MSP at endorsement, or the orderer's at broadcast (the channel's Writers policy,
    # when the peer endorsed just before the block reached it)
    message = str(refused)
    assert ("access denied" in message and "creator org [TelecomMSP]" in message) or (
        "FORBIDDEN" in message and "'Writers'" in message and "permission denied" in message
    ), message
    # the other admins of telecom are untouched
    with fabric.gateway("telecom") as gw:
        fabric.contract(gw).submit_transaction("RegisterDataset", dataset_spec("after-crl-ok"))


