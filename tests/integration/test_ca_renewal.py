"""`alliance keys renew-ca` while the alliance runs (devnet and three nodes): during the overlap
both CAs are trusted — by devnet's MSP, the contract and the nodes' MPC links — and jobs run on
the reissued identities; once the overlap is over the old CA's certificates are refused by the
contract and at the node, and after `--finish` by devnet's MSP and the TLS handshake too."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from node_cluster import PASSPHRASE, approve_all, request, running_alliance, wait_until

from alliance.app import keys
from alliance.app.errors import AppError
from alliance.app.session import open_session
from alliance.cli.demo.flow import DemoFlow
from alliance.identity import Identity
from alliance.keystore import PASSPHRASE_ENV, load_private_key, private_key_pem
from alliance.msp import MspRegistry
from alliance.signing import EcdsaSigner
from alliance.wallet import TlsMaterial
from network.gateway import connect
from node.link_probe import probe_link


@pytest.fixture(scope="module")
def alliance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoFlow]:
    with running_alliance(tmp_path_factory.mktemp("renewca") / "net") as flow:
        yield flow


@pytest.fixture(autouse=True)
def _passphrase(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSPHRASE_ENV, PASSPHRASE.decode())


def _keep(flow: DemoFlow, org: str, tmp: Path) -> Path:
    """A copy of `org`'s users (certificates and keys) as they are now: the old CA's."""
    target = tmp / f"{org}-before"
    shutil.copytree(flow.net_dir / "orgs" / org / "users", target)
    return target


def _old_admin(kept: Path, org: str) -> tuple[Identity, EcdsaSigner]:
    msp = kept / "admin" / "msp"
    return (Identity(msp_id=f"{org.capitalize()}MSP",
                     certificate=(msp / "signcerts" / "cert.pem").read_bytes()),
            EcdsaSigner(load_private_key(msp / "keystore" / "key.pem", PASSPHRASE)))


def _old_node_tls(flow: DemoFlow, kept: Path) -> TlsMaterial:
    tls = kept / "node" / "tls"
    return TlsMaterial(MspRegistry.from_network(flow.net_dir).tls_roots_pem(),
                       (tls / "client.crt").read_bytes(),
                       private_key_pem(load_private_key(tls / "client.key", PASSPHRASE)))


def _list_members(flow: DemoFlow, who: tuple[Identity, EcdsaSigner]) -> str:
    """'' when `who` may read the members, else the refusal."""
    from network.connection import gateway_endpoint

    address, root = gateway_endpoint(flow.net_dir, who[0].msp_id[:-3].lower())
    try:
        with connect(address, identity=who[0], signer=who[1], tls_root_certs=root) as gw:
            gw.get_network("alliance").get_contract("alliance").evaluate_transaction(
                "ListMembers")
    except Exception as exc:
        return str(exc)
    return ""


def _reload(flow: DemoFlow, org: str) -> None:
    """The flow's cached connections of `org`'s admin were opened with its old certificate."""
    session = flow._sessions.pop(org, None)
    if session is not None:
        session.close()


def _job(flow: DemoFlow, orgs: tuple[str, str]) -> dict:
    for org in orgs:
        _reload(flow, org)
    inputs = [flow._input(org) for org in orgs]
    job = approve_all(flow, request(flow, orgs[0], inputs, orgs[0], op="count"))
    return flow.wait_for(job["id"], ("COMPLETED", "FAILED", "DISPUTED"))


def test_during_the_overlap_both_cas_are_trusted_and_after_finish_only_the_new(
    alliance: DemoFlow, tmp_path: Path
) -> None:
    kept = _keep(alliance, "platform", tmp_path)
    with open_session(alliance.net_dir, "platform", passphrase=PASSPHRASE) as s:
        done = keys.renew_ca(s, 3600)
    assert set(done["reissued"]) >= {"admin", "client", "node", "node/tls", "peer0", "peer0/tls"}
    old_admin = _old_admin(kept, "platform")
    assert _list_members(alliance, old_admin) == ""  # the old CA: MSP and contract accept
    with open_session(alliance.net_dir, "platform", passphrase=PASSPHRASE) as s:
        assert s.evaluate("ListMembers")  # the new admin
    job = _job(alliance, ("bank", "platform"))  # platform's node on its new TLS certificate
    assert job["state"] == "COMPLETED", job["failures"]
    # the old node certificate still links during the overlap (refused only for the job id)
    answer = probe_link(alliance.net_dir, "platform", "bank", "job-none",
                        tls=_old_node_tls(alliance, kept))
    assert answer.refused and "cannot read job" in answer.details

    with open_session(alliance.net_dir, "platform", passphrase=PASSPHRASE) as s:
        finished = keys.finish_ca_renewal(s)
    assert any(name.startswith("cacerts/ca-old-") for name in finished["retired"])
    refused = _list_members(alliance, old_admin)
    assert "retired" in refused or "not issued by the CA" in refused
    answer = probe_link(alliance.net_dir, "platform", "bank", "job-none",
                        tls=_old_node_tls(alliance, kept))
    assert answer.code != "OK" and "cannot read job" not in answer.details
    job = _job(alliance, ("platform", "bank"))
    assert job["state"] == "COMPLETED", job["failures"]
    with open_session(alliance.net_dir, "platform", passphrase=PASSPHRASE) as s, \
            pytest.raises(AppError, match="no CA overlap"):
        keys.finish_ca_renewal(s)


def _from_old_ca(flow: DemoFlow, org: str) -> tuple[tuple[Identity, EcdsaSigner], TlsMaterial]:
    """A new admin and a new node TLS identity issued by `org`'s old CAs (kept as *.old-SERIAL):
    certificates nobody revoked, so only the CA rule can refuse them."""
    from alliance.identity import load_certificate
    from alliance.network_init import LOOPBACK_SANS, CertificateAuthority, cert_pem, new_key

    org_dir = flow.net_dir / "orgs" / org

    def old(name: str) -> CertificateAuthority:
        [pem] = sorted((org_dir / name).glob(f"{name}.pem.old-*"))
        key = pem.with_name(pem.name.replace(".pem.", ".key."))
        return CertificateAuthority(load_certificate(pem.read_bytes()),
                                    load_private_key(key, PASSPHRASE))

    key = new_key()
    cert = old("ca").issue(key.public_key(), org=org, common_name=f"Admin2@{org}", ou="admin")
    admin = (Identity(msp_id=f"{org.capitalize()}MSP", certificate=cert_pem(cert)),
             EcdsaSigner(key))
    tls_key = new_key()
    tls_cert = old("tlsca").issue(tls_key.public_key(), org=org, common_name=f"node.{org}",
                                  tls_server=True, tls_client=True,
                                  sans=(*LOOPBACK_SANS, f"node.{org}"))
    tls = TlsMaterial(MspRegistry.from_network(flow.net_dir).tls_roots_pem(),
                      cert_pem(tls_cert), private_key_pem(tls_key))
    return admin, tls


def test_after_the_overlap_the_contract_and_the_node_refuse_the_old_ca_before_the_msp_does(
    alliance: DemoFlow,
) -> None:
    with open_session(alliance.net_dir, "telecom", passphrase=PASSPHRASE) as s:
        keys.renew_ca(s, 0)  # the overlap is over at once; the MSP still holds the old root
    assert list((alliance.net_dir / "orgs" / "telecom" / "msp" / "cacerts").glob("ca-old-*"))
    admin, node_tls = _from_old_ca(alliance, "telecom")
    refused = _list_members(alliance, admin)
    assert "retired ca root" in refused  # the contract's refusal (devnet's MSP let it in)
    answer = probe_link(alliance.net_dir, "telecom", "bank", "job-none", tls=node_tls)
    assert answer.refused and "retired tlsca root" in answer.details  # the node's refusal
    job = _job(alliance, ("telecom", "bank"))
    assert job["state"] == "COMPLETED", job["failures"]
    with open_session(alliance.net_dir, "telecom", passphrase=PASSPHRASE) as s:
        keys.finish_ca_renewal(s)
    # devnet's MSP: the retired root vouches for a moment more (a transaction ordered just
    # before it dropped the root stays verifiable), then refuses by itself
    assert wait_until(lambda: "the creator certificate is not valid" in _list_members(
        alliance, admin), timeout=60, interval=0.5)


def test_an_overlap_beyond_ninety_days_is_refused(alliance: DemoFlow) -> None:
    with open_session(alliance.net_dir, "bank", passphrase=PASSPHRASE) as s, \
            pytest.raises(AppError, match="between 0 and 90 days"):
        keys.renew_ca(s, 91 * 86400)


def test_verify_chain_accepts_what_the_retired_cas_signed_before_they_retired(
    alliance: DemoFlow,
) -> None:
    from alliance.app.audit import verify_chain

    with open_session(alliance.net_dir, "regulator", passphrase=PASSPHRASE) as s:
        report = verify_chain(s)
    assert report.ok, "\n".join(str(f.to_dict()) for f in report.findings)


def test_zz_a_node_certificate_revoked_on_the_ledger_is_refused_at_the_link(
    alliance: DemoFlow,
) -> None:
    """(Last in the module: telecom's node keeps no usable MPC identity afterwards.)"""
    with open_session(alliance.net_dir, "telecom", passphrase=PASSPHRASE) as s:
        done = keys.revoke(s, "node/tls", "keyCompromise")
    assert done["crl"] is None  # the TLS CA keeps no CRL: the ledger's revocation is the one
    assert wait_until(lambda: "revoked the certificate" in probe_link(
        alliance.net_dir, "telecom", "bank", "job-none", passphrase=PASSPHRASE).details,
        timeout=60, interval=0.5)
