"""Build servers and clients from a network folder (`alliance network init` layout).

A server's TLS identity is its org's node certificate (`users/node/tls`); it accepts clients
whose certificate is some org's *node* certificate (`TlsOrgs.node_org_of`) and lookups signed by
a valid certificate of the asker's MSP (`MspRegistry.validate`). Used by tests, the benchmark
and, later, the node daemon when the `multilender` job names this org as a server.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509

from alliance.identity import Identity
from alliance.msp import MspRegistry
from alliance.profile import load_profile
from alliance.wallet import load_user, user_tls
from node.paths import node_dir
from node.peer_orgs import TlsOrgs
from node.query.authorize import Authorizer
from node.query.client import QueryClient, ServerAddress
from node.query.layout import Layout
from node.query.salt import member_salt
from node.query.server import OrgOfSigner, OrgOfTls, Peer, QueryServer, ServerTls

SIGNER_CACHE_SECONDS = 10.0
"""A validated signing certificate is trusted again without re-validation for this long."""


def signer_orgs(net_dir: Path) -> OrgOfSigner:
    """(MSP id, certificate) -> org, for certificates valid in that MSP now."""
    registry = MspRegistry.from_network(net_dir)
    by_msp = {entry.msp_id: org for org, entry in load_profile(net_dir).orgs.items()}
    checked: dict[tuple[str, bytes], float] = {}

    def org_of(msp_id: str, certificate: bytes) -> str:
        if msp_id not in by_msp:
            raise ValueError(f"unknown MSP id {msp_id!r}")
        now = time.monotonic()
        if checked.get((msp_id, certificate), -1e9) < now - SIGNER_CACHE_SECONDS:
            registry.validate(Identity(msp_id, certificate))
            if len(checked) > 1024:
                checked.clear()
            checked[(msp_id, certificate)] = now
        return by_msp[msp_id]

    return org_of


def node_tls_orgs(net_dir: Path) -> OrgOfTls:
    """A client's TLS certificate -> the org whose node presents it (`TlsOrgs.node_org_of`).

    An accepted certificate is not checked again (one signature verification per org tried)
    for SIGNER_CACHE_SECONDS, nor past its expiry, nor once NET's TLS roots changed; a refusal
    is never remembered. Revocation and membership are not decided here: the server's
    authorizer checks them on every request."""
    orgs = TlsOrgs.from_network(net_dir)
    accepted: dict[bytes, tuple[str, float, object]] = {}

    def org_of(cert_pem: bytes) -> str:
        now = time.monotonic()
        version = orgs.version()
        hit = accepted.get(cert_pem)
        if hit is not None and hit[1] > now and hit[2] == version:
            return hit[0]
        org = orgs.node_org_of(cert_pem)
        expires = x509.load_pem_x509_certificate(cert_pem).not_valid_after_utc
        left = (expires - datetime.now(UTC)).total_seconds()
        if len(accepted) > 1024:
            accepted.clear()
        accepted[cert_pem] = (org, now + min(SIGNER_CACHE_SECONDS, left), version)
        return org

    return org_of


def tls_ca(net_dir: Path, org: str) -> bytes:
    """The TLS CA of `org` (what a client trusts when dialing that org's server)."""
    return TlsOrgs.from_network(net_dir).roots_pem(org)


def make_server(
    net_dir: Path, org: str, role: str, peer_org: str, peer_address: str, layout: Layout,
    folder: Path, authorizer: Authorizer, passphrase: bytes | None = None, *, port: int = 0,
    epoch_seconds: float = 30.0, salt: bytes | None = None,
) -> QueryServer:
    tls = user_tls(net_dir, org, "node", passphrase)
    _, signer = load_user(net_dir, org, "node", passphrase)
    return QueryServer(
        org, role, layout, folder, ServerTls(tls.cert_chain, tls.private_key, tls.root_certs),
        node_tls_orgs(net_dir), signer_orgs(net_dir), authorizer,
        Peer(peer_org, peer_address, tls_ca(net_dir, peer_org)), port=port,
        epoch_seconds=epoch_seconds, signer=signer, salt=salt)


def make_client(
    net_dir: Path, org: str, servers: tuple[tuple[str, str], tuple[str, str]],
    salt: bytes | None, layout: Layout, passphrase: bytes | None = None, *,
    timeout: float = 10.0,
) -> QueryClient:
    """`servers`: ((org A, address A), (org B, address B)); `salt` None: the member's copy of
    server A's salt, fetched from A the first time (salt.py)."""
    identity, signer = load_user(net_dir, org, "node", passphrase)
    tls = user_tls(net_dir, org, "node", passphrase)
    addresses = (ServerAddress(servers[0][0], servers[0][1], tls_ca(net_dir, servers[0][0])),
                 ServerAddress(servers[1][0], servers[1][1], tls_ca(net_dir, servers[1][0])))
    client = QueryClient(org, identity, signer, tls.cert_chain, tls.private_key, addresses,
                         salt or b"", layout, timeout=timeout)
    if salt is None:
        try:
            client.salt = member_salt(node_dir(net_dir, org), servers[0][0], client.fetch_salt)
        except BaseException:
            client.close()
            raise
    return client
