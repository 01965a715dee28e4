"""MPC peer authentication takes only an org's node identity, and never a revoked certificate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_node_runner import make_job

from alliance.identity import Identity
from alliance.models import Job
from alliance.wallet import user_tls
from node.errors import GateRefused, TransportError
from node.peer_auth import PeerAuthorizer
from node.peer_orgs import TlsOrgs

FP = "sha256:" + "11" * 32


class FakeLedgerReader:
    """The two reads the authorizer makes: the job, and the revoked certificates."""

    def __init__(self, revoked: list[dict[str, Any]] | None = None) -> None:
        self.job = make_job(FP, FP)  # APPROVED, participants bank and telecom
        self.revoked = list(revoked or [])
        self.revocation_reads = 0

    def get_job(self, job_id: str) -> Job:
        return self.job

    def list_revoked(self) -> list[dict[str, Any]]:
        self.revocation_reads += 1
        return list(self.revoked)


def _authorizer(network_dir: Path, ledger: FakeLedgerReader, ttl: float = 2.0) -> PeerAuthorizer:
    return PeerAuthorizer("bank", TlsOrgs.from_network(network_dir), ledger.get_job,
                          ledger.list_revoked, revocation_ttl=ttl)


def _node_cert(network_dir: Path, org: str, passphrase: bytes) -> bytes:
    return user_tls(network_dir, org, "node", passphrase).cert_chain


def test_the_node_certificate_of_a_participant_is_accepted(
    network_dir: Path, passphrase: bytes,
) -> None:
    auth = _authorizer(network_dir, FakeLedgerReader())
    assert auth.authorize("job-1", _node_cert(network_dir, "telecom", passphrase)) == "telecom"
    assert auth.refusals == []


def test_the_peer0_tls_certificate_of_a_participant_is_refused(network_dir: Path) -> None:
    # Issued by telecom's TLS CA, and its key lies unencrypted on disk: not the node.
    peer_cert = (network_dir / "orgs" / "telecom" / "peers" / "peer0" / "tls" /
                 "server.crt").read_bytes()
    auth = _authorizer(network_dir, FakeLedgerReader())
    with pytest.raises(TransportError, match=r"not its node's.*'node\.telecom'"):
        auth.authorize("job-1", peer_cert)
    assert "peer0.telecom" in auth.refusals[0]


@pytest.mark.parametrize("user", ["admin", "client"])
def test_the_admin_and_client_tls_certificates_are_refused(
    network_dir: Path, passphrase: bytes, user: str,
) -> None:
    cert = user_tls(network_dir, "telecom", user, passphrase).cert_chain
    with pytest.raises(TransportError, match="not its node's"):
        _authorizer(network_dir, FakeLedgerReader()).authorize("job-1", cert)


def test_a_node_certificate_revoked_on_the_ledger_is_refused(
    network_dir: Path, passphrase: bytes,
) -> None:
    cert = _node_cert(network_dir, "telecom", passphrase)
    fingerprint = Identity("", cert).fingerprint
    ledger = FakeLedgerReader([{"fingerprint": fingerprint, "org": "telecom", "tx_id": "t9",
                                "at": 1}])
    auth = _authorizer(network_dir, ledger)
    with pytest.raises(GateRefused, match="revoked"):
        auth.authorize("job-1", cert)
    assert fingerprint in auth.refusals[0]


def test_a_revocation_on_the_ledger_bites_once_the_cache_is_stale(
    network_dir: Path, passphrase: bytes,
) -> None:
    cert = _node_cert(network_dir, "telecom", passphrase)
    ledger = FakeLedgerReader()
    auth = _authorizer(network_dir, ledger, ttl=0.0)
    assert auth.authorize("job-1", cert) == "telecom"
    ledger.revoked.append({"fingerprint": Identity("", cert).fingerprint, "org": "telecom",
                           "tx_id": "t9", "at": 1})
    with pytest.raises(GateRefused, match="revoked"):
        auth.authorize("job-1", cert)
    assert ledger.revocation_reads == 2


def test_a_revocation_by_another_org_does_not_revoke_the_cert(
    network_dir: Path, passphrase: bytes,
) -> None:
    cert = _node_cert(network_dir, "telecom", passphrase)
    ledger = FakeLedgerReader([{"fingerprint": Identity("", cert).fingerprint, "org": "bank",
                                "tx_id": "t9", "at": 1}])
    assert _authorizer(network_dir, ledger).authorize("job-1", cert) == "telecom"


def test_a_link_is_refused_when_the_revocations_cannot_be_read(
    network_dir: Path, passphrase: bytes,
) -> None:
    def unreachable() -> list[dict[str, Any]]:
        raise ConnectionError("ledger down")

    auth = PeerAuthorizer("bank", TlsOrgs.from_network(network_dir), FakeLedgerReader().get_job,
                          unreachable)
    with pytest.raises(GateRefused, match="cannot read the revoked certificates"):
        auth.authorize("job-1", _node_cert(network_dir, "telecom", passphrase))


def _roots(network_dir: Path, org: str, retired_at: int | None) -> dict[str, Any]:
    """`org`'s ledger record after a CA renewal: its current TLS root trusted until
    `retired_at`, a new one from the start."""
    import time

    from alliance.authorities import CaRoot, OrgAuthorities, der_fingerprint
    from alliance.network_init import CertificateAuthority

    old = (network_dir / "orgs" / org / "tlsca" / "tlsca.pem").read_bytes().decode()
    new = CertificateAuthority.create(org, f"tlsca2.{org}")
    roots = [CaRoot(kind="tlsca", fingerprint=der_fingerprint(Identity("", old.encode()).cert),
                    pem=old, added_at=0, retired_at=retired_at),
             CaRoot(kind="tlsca", fingerprint=der_fingerprint(new.cert), pem=new.pem.decode(),
                    added_at=int(time.time()) - 10)]
    return {org: OrgAuthorities(org=org, roots=roots, tx_id="t1")}


def test_a_node_certificate_of_a_retired_tls_root_is_refused(
    network_dir: Path, passphrase: bytes,
) -> None:
    import time

    cert = _node_cert(network_dir, "telecom", passphrase)
    records = _roots(network_dir, "telecom", retired_at=int(time.time()) - 1)
    auth = PeerAuthorizer("bank", TlsOrgs.from_network(network_dir), FakeLedgerReader().get_job,
                          list, read_authorities=lambda: records)
    with pytest.raises(GateRefused, match="retired tlsca root"):
        auth.authorize("job-1", cert)


def test_during_the_overlap_the_old_tls_root_still_links(
    network_dir: Path, passphrase: bytes,
) -> None:
    import time

    cert = _node_cert(network_dir, "telecom", passphrase)
    records = _roots(network_dir, "telecom", retired_at=int(time.time()) + 3600)
    auth = PeerAuthorizer("bank", TlsOrgs.from_network(network_dir), FakeLedgerReader().get_job,
                          list, read_authorities=lambda: records)
    assert auth.authorize("job-1", cert) == "telecom"
