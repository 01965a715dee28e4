"""Which org a TLS certificate belongs to: the org whose TLS CA signed it.

The MPC server sees only the peer's TLS certificate. Its subject can say anything; what counts is
the issuer signature, checked against each org's TLS root from the network's MSPs (the same roots
the ledger uses). Pure apart from loading the roots once.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509

from node.errors import TransportError


class TlsOrgs:
    """Maps a TLS certificate to the one org whose TLS CA issued it."""

    def __init__(self, roots_by_org: Mapping[str, list[bytes] | tuple[bytes, ...]]) -> None:
        self._roots = {
            org: [x509.load_pem_x509_certificate(pem) for pem in pems]
            for org, pems in roots_by_org.items()
        }

    @classmethod
    def from_network(cls, net_dir: Path) -> TlsOrgs:
        """Every org of NET (the orderer org excluded: it runs no node)."""
        from alliance.msp import MspRegistry
        from alliance.profile import ORDERER_ORG, load_profile

        profile = load_profile(net_dir)
        registry = MspRegistry.from_network(net_dir)
        return cls(
            {
                org: registry.get(entry.msp_id).tls_root_certs
                for org, entry in profile.orgs.items()
                if ORDERER_ORG not in entry.roles
            }
        )

    def roots_pem(self, org: str) -> bytes:
        """The TLS CA certificate(s) of `org`, to trust when dialing its node."""
        from cryptography.hazmat.primitives.serialization import Encoding

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
