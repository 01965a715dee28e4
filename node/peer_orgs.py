"""Which org a TLS certificate belongs to: the org whose TLS CA signed it.

The MPC server sees only the peer's TLS certificate. Its subject can say anything; what counts is
the issuer signature, checked against each org's TLS root from the network's MSPs (the same roots
the ledger uses). An org's TLS CA also issues its Fabric peer's, admin's and client's TLS
certificates (the peer's key is stored unencrypted, Fabric loads it itself), so an MPC link takes
only the org's *node* identity: `node_org_of` also requires the subject CN `node.<org>` that
`alliance network init` gives the node user's TLS certificate (and only it; the CA vouches for the
subject of what it signs). Pure apart from loading the roots once.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import NameOID

from node.errors import TransportError


def node_common_name(org: str) -> str:
    """The subject CN of `org`'s node TLS certificate (see alliance.network_init.write_user)."""
    return f"node.{org}"


class TlsOrgs:
    """Maps a TLS certificate to the one org whose TLS CA issued it."""

    def __init__(self, roots_by_org: Mapping[str, list[bytes] | tuple[bytes, ...]],
                 net_dir: Path | None = None) -> None:
        self._set(roots_by_org)
        self._net_dir = net_dir
        self._stamp = _stamp(net_dir) if net_dir is not None else ()
        self._checked = time.monotonic()

    def _set(self, roots_by_org: Mapping[str, list[bytes] | tuple[bytes, ...]]) -> None:
        self._roots = {
            org: [x509.load_pem_x509_certificate(pem) for pem in pems]
            for org, pems in roots_by_org.items()
        }

    @classmethod
    def from_network(cls, net_dir: Path) -> TlsOrgs:
        """Every org of NET (the orderer org excluded: it runs no node); re-read when NET's TLS
        roots change (an org renewed its CA: `alliance keys renew-ca`)."""
        return cls(_network_roots(net_dir), net_dir)

    def refresh(self) -> None:
        """Re-read NET's TLS roots if their files changed (checked at most once a second)."""
        if self._net_dir is None or time.monotonic() - self._checked < 1.0:
            return
        self._checked = time.monotonic()
        stamp = _stamp(self._net_dir)
        if stamp != self._stamp:
            try:
                self._set(_network_roots(self._net_dir))
            except Exception:  # a half-written folder: keep the old roots, retry next time
                return
            self._stamp = stamp

    def version(self) -> tuple[tuple[str, int], ...]:
        """Changes whenever the roots were re-read (a cache of `org_of` answers keys on it)."""
        self.refresh()
        return self._stamp

    def all_roots_pem(self) -> bytes:
        """Every org's TLS roots: what the MPC server trusts in a client's certificate."""
        from cryptography.hazmat.primitives.serialization import Encoding

        self.refresh()
        return b"".join(root.public_bytes(Encoding.PEM)
                        for org in sorted(self._roots) for root in self._roots[org])

    def roots_pem(self, org: str) -> bytes:
        """The TLS CA certificate(s) of `org`, to trust when dialing its node."""
        from cryptography.hazmat.primitives.serialization import Encoding

        self.refresh()
        if org not in self._roots:
            raise TransportError(f"no TLS CA known for {org!r}; is it in the network profile?")
        return b"".join(root.public_bytes(Encoding.PEM) for root in self._roots[org])

    def org_of(self, cert_pem: bytes, at: datetime | None = None) -> str:
        """The org whose TLS CA issued `cert_pem`; TransportError if none (or the cert expired)."""
        try:
            cert = x509.load_pem_x509_certificate(cert_pem)
        except ValueError as exc:
            raise TransportError(f"the peer's certificate is not a PEM certificate: {exc}") from exc
        when = at or datetime.now(UTC)
        self.refresh()
        if not cert.not_valid_before_utc <= when <= cert.not_valid_after_utc:
            raise TransportError(f"the peer's certificate is not valid at {when.isoformat()}")
        for org, roots in sorted(self._roots.items()):
            for root in roots:
                try:
                    cert.verify_directly_issued_by(root)
                except Exception:  # wrong issuer fails in several ways; each means "not this org"
                    continue
                return org
        raise TransportError(
            "the peer's certificate was not issued by the TLS CA of any org of this network"
        )


    def node_org_of(self, cert_pem: bytes, at: datetime | None = None) -> str:
        """The org whose *node* presents `cert_pem`: issued by the org's TLS CA and with subject
        CN `node.<org>`. TransportError for any other certificate of the org (its peer's, admin's
        or client's TLS certificate), naming what was presented."""
        org = self.org_of(cert_pem, at)
        cert = x509.load_pem_x509_certificate(cert_pem)
        names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        common_names = [str(n.value) for n in names]
        expected = node_common_name(org)
        if common_names != [expected]:
            shown = ", ".join(repr(n) for n in common_names) or "no CN"
            raise TransportError(
                f"the peer's certificate is a TLS certificate of {org} but not its node's "
                f"(subject CN {shown}, expected {expected!r}); MPC links take only the node "
                "identity (users/node/tls), never the peer, admin or client certificates"
            )
        return org


def _network_roots(net_dir: Path) -> dict[str, tuple[bytes, ...]]:
    from alliance.msp import MspRegistry
    from alliance.profile import ORDERER_ORG, load_profile

    profile = load_profile(net_dir)
    registry = MspRegistry.from_network(net_dir)
    return {
        org: registry.get(entry.msp_id).tls_root_certs
        for org, entry in profile.orgs.items()
        if ORDERER_ORG not in entry.roles
    }


def _stamp(net_dir: Path) -> tuple[tuple[str, int], ...]:
    out = []
    for path in [Path(net_dir) / "profile.json", *Path(net_dir).glob("orgs/*/msp/tlscacerts/*")]:
        try:
            out.append((str(path), path.stat().st_mtime_ns))
        except OSError:
            continue
    return tuple(sorted(out))
