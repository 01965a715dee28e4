"""An org's certificate authorities over time: which roots the ledger trusts for it, and until when.

`alliance keys renew-ca` gives an org a new signing CA and a new TLS CA. For an overlap period both
the old and the new roots are trusted; after it the old ones are retired, and a certificate they
issued is refused. The ledger keeps the org's roots (`OrgAuthorities`), so the contract (for
signing certificates, kind `ca`) and every node (for MPC link certificates, kind `tlsca`) apply
the same rule, `issuer_in_force`, at the same moment. An org that never renewed has no record;
its roots are then the channel MSP's alone. Pure.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from pydantic import BaseModel, ConfigDict, Field

from alliance.errors import IdentityError
from alliance.models import Record

CaKind = Literal["ca", "tlsca"]
MAX_OVERLAP_SECONDS = 90 * 24 * 3600
"""The longest overlap, the same bound as a rotation's grace period."""


class CaRoot(BaseModel):
    """One root certificate of an org, trusted from `added_at` until `retired_at` (exclusive)."""

    model_config = ConfigDict(extra="forbid")

    kind: CaKind
    fingerprint: str
    pem: str
    added_at: int
    retired_at: int | None = None

    def in_force(self, now: int) -> bool:
        return self.added_at <= now and (self.retired_at is None or now < self.retired_at)


class OrgAuthorities(Record):
    """The ledger's record of an org's CA roots (the newest renewal's transaction)."""

    org: str
    roots: list[CaRoot]
    tx_id: str


class CaRenewal(BaseModel):
    """The argument of RenewCertificateAuthority: the new roots, the ones they replace (PEM),
    and how long both stay trusted."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    ca: str
    tlsca: str
    previous_ca: str
    previous_tlsca: str
    overlap_seconds: int = Field(ge=0, le=MAX_OVERLAP_SECONDS)


def der_fingerprint(cert: x509.Certificate) -> str:
    return "sha256:" + hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest()


def load_root(pem: str, org: str, what: str) -> x509.Certificate:
    """`pem` as a self-signed P-256 CA certificate of `org` (subject O); IdentityError saying
    what is wrong otherwise."""
    try:
        cert = x509.load_pem_x509_certificate(pem.encode())
    except ValueError as exc:
        raise IdentityError(f"the {what} is not a PEM certificate: {exc}") from exc
    try:
        ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        ca = False
    if not ca:
        raise IdentityError(f"the {what} is not a CA certificate (BasicConstraints CA:TRUE)")
    key = cert.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise IdentityError(f"the {what} does not hold a P-256 key")
    try:
        cert.verify_directly_issued_by(cert)
    except Exception as exc:  # a bad self-signature fails in several ways
        raise IdentityError(f"the {what} is not a self-signed root: {exc}") from exc
    names = [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    if names != [org]:
        raise IdentityError(f"the {what} names organization {names or 'none'}, not {org!r}")
    return cert


def issued_by(cert: x509.Certificate, root_pem: str) -> bool:
    """Whether `root_pem`'s key signed `cert` (and the names match)."""
    try:
        cert.verify_directly_issued_by(x509.load_pem_x509_certificate(root_pem.encode()))
    except Exception:  # a wrong issuer fails in several ways; each means "not this root"
        return False
    return True


def issuer_in_force(
    cert: x509.Certificate, record: OrgAuthorities, kind: CaKind, now: int
) -> CaRoot:
    """The root of `kind` in `record` that issued `cert` and is trusted at `now`; IdentityError
    naming the retired root (and when it was retired) or saying no recorded root issued it."""
    issuers = [r for r in record.roots if r.kind == kind and issued_by(cert, r.pem)]
    for root in issuers:
        if root.in_force(now):
            return root
    if issuers:
        root = issuers[0]
        when = (datetime.fromtimestamp(root.retired_at, UTC).isoformat()
                if root.retired_at is not None else "later")
        raise IdentityError(
            f"the certificate was issued by {record.org}'s retired {kind} root "
            f"{root.fingerprint[:19]}… (retired {when}, when the overlap of "
            f"`alliance keys renew-ca` ended); {record.org} must issue it anew from its new CA"
        )
    raise IdentityError(
        f"the certificate was not issued by any {kind} root {record.org} recorded on the ledger"
    )


def renewed_roots(
    current: OrgAuthorities | None, renewal: CaRenewal, org: str, now: int, tx_id: str
) -> OrgAuthorities:
    """The org's roots after `renewal` at `now`: the previous roots trusted until the overlap
    ends (they must be trusted now), the new ones from now on. IdentityError when a root is
    malformed, is not `org`'s, is already known, or the previous root is not in force."""
    end = now + renewal.overlap_seconds
    roots = [r.model_copy() for r in current.roots] if current is not None else []
    for kind, new_pem, old_pem in (("ca", renewal.ca, renewal.previous_ca),
                                   ("tlsca", renewal.tlsca, renewal.previous_tlsca)):
        new = load_root(new_pem, org, f"new {kind} root")
        old = load_root(old_pem, org, f"previous {kind} root")
        new_fp, old_fp = der_fingerprint(new), der_fingerprint(old)
        if new_fp == old_fp:
            raise IdentityError(f"the new {kind} root is the previous one; create a new CA")
        if any(r.fingerprint == new_fp for r in roots):
            raise IdentityError(f"the new {kind} root {new_fp[:19]}… is already recorded")
        known = [r for r in roots if r.kind == kind]
        previous = next((r for r in known if r.fingerprint == old_fp), None)
        if known and (previous is None or not previous.in_force(now)):
            raise IdentityError(
                f"the previous {kind} root {old_fp[:19]}… is not a root of {org} in force now; "
                "renew from the CA the ledger trusts (see `alliance keys list`)"
            )
        if previous is None:
            roots.append(CaRoot(kind=kind, fingerprint=old_fp, pem=old_pem, added_at=0,
                                retired_at=end))
        for root in known:  # every root of this kind in force now ends with the overlap
            if root.in_force(now):
                root.retired_at = min(root.retired_at or end, end)
        roots.append(CaRoot(kind=kind, fingerprint=new_fp, pem=new_pem, added_at=now))
    return OrgAuthorities(org=org, roots=roots, tx_id=tx_id)


def overlap_ended(record: OrgAuthorities, now: int, tx_id: str) -> OrgAuthorities:
    """`record` with every root that is set to retire retired at `now` (the overlap ends early,
    or is confirmed over)."""
    roots = []
    for root in record.roots:
        copy = root.model_copy()
        if copy.retired_at is not None and copy.retired_at > now:
            copy.retired_at = now
        roots.append(copy)
    return OrgAuthorities(org=record.org, roots=roots, tx_id=tx_id)


def overlap_end(record: OrgAuthorities, now: int) -> int | None:
    """When the roots retiring after `now` retire (None: no overlap is running)."""
    ends = [r.retired_at for r in record.roots if r.retired_at is not None and r.retired_at > now]
    return max(ends) if ends else None
