"""`alliance keys renew-ca` on real Fabric: the org's new roots go into its channel MSP (root_certs
and tls_root_certs) by a config update a majority of the member admins sign; during the overlap
the peers take certificates of both CAs (the org's peer itself restarted on its reissued
identity); after `--finish` the old roots are gone from the channel MSP and the peers' own MSP
refuses a certificate of the old CA that nobody revoked."""

from __future__ import annotations

import time
from datetime import timedelta

from conftest import Fabric, dataset_spec

from alliance.app import keys
from alliance.app.session import open_session
from alliance.identity import Identity, load_certificate
from alliance.keystore import load_private_key
from alliance.network_init import CertificateAuthority, cert_pem, new_key
from alliance.signing import EcdsaSigner
from alliance.wallet import load_user
from network.connection import record_engine
from network.fabric import gateway_endpoint
from network.gateway import connect

ORG = "platform"


def _register(fabric: Fabric, who: tuple[Identity, EcdsaSigner], name: str) -> None:
    host, port, root = gateway_endpoint(fabric.net_dir, ORG)
    with connect(f"{host}:{port}", identity=who[0], signer=who[1], tls_root_certs=root) as gw:
        fabric.contract(gw).submit_transaction("RegisterDataset", dataset_spec(name))


def _admin_of_old_ca(fabric: Fabric) -> tuple[Identity, EcdsaSigner]:
    """A second admin issued by platform's old CA (kept as ca.pem.old-SERIAL): nobody revoked
    it, so only the CA's retirement can refuse it."""
    ca_dir = fabric.net_dir / "orgs" / ORG / "ca"
    [pem] = sorted(ca_dir.glob("ca.pem.old-*"))
    key_path = pem.with_name(pem.name.replace(".pem.", ".key."))
    ca = CertificateAuthority(load_certificate(pem.read_bytes()),
                              load_private_key(key_path, fabric.passphrase))
    key = new_key()
    cert = ca.issue(key.public_key(), org=ORG, common_name=f"Admin2@{ORG}", ou="admin",
                    validity=timedelta(days=30))
    return Identity(msp_id="PlatformMSP", certificate=cert_pem(cert)), EcdsaSigner(key)


def test_renew_ca_trusts_both_roots_on_the_channel_then_only_the_new(fabric: Fabric) -> None:
    record_engine(fabric.net_dir, "fabric")  # the session fixture started Fabric directly
    with open_session(fabric.net_dir, ORG, passphrase=fabric.passphrase) as s:
        done = keys.renew_ca(s, 3600)
    assert done["channel_update_signed_by"] == [ORG, "bank"]
    new_admin = load_user(fabric.net_dir, ORG, "admin", fabric.passphrase)
    _register(fabric, new_admin, "renewed-new-ca")  # the new CA, through the restarted peer
    old_admin = _admin_of_old_ca(fabric)
    _register(fabric, old_admin, "renewed-old-ca")  # the old CA, during the overlap

    with open_session(fabric.net_dir, ORG, passphrase=fabric.passphrase) as s:
        finished = keys.finish_ca_renewal(s)
    assert finished["channel_update_signed_by"] == [ORG, "bank"]
    refused = ""
    deadline = time.monotonic() + 120  # the config block commits on every peer
    while time.monotonic() < deadline and "access denied" not in refused:
        try:
            _register(fabric, old_admin, f"after-finish-{int(time.monotonic() * 1000)}")
            refused = "accepted"
        except Exception as exc:
            refused = str(exc)
        if "access denied" not in refused:
            time.sleep(1)
    # the peer's MSP refuses it (before the contract sees it): with its root gone from the
    # channel, Fabric cannot even place the creator in an org
    assert "access denied" in refused and "creator is malformed" in refused, refused
    _register(fabric, new_admin, "after-finish-new-ca")
    with fabric.gateway("bank") as gw:  # the other orgs are untouched
        fabric.contract(gw).submit_transaction("RegisterDataset", dataset_spec("bank-after"))
