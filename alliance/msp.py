"""Verifying MSPs: which certificates each org's CA vouches for, and which it has revoked.

`MspRegistry.validate` is the check devnet applies to every creator and endorser: the MSP id is
known, the certificate was signed by that MSP's root CA (the signature is verified, names alone
prove nothing), it is inside its validity period, and its serial is not on the org's CRL.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from alliance.errors import IdentityError
from alliance.identity import Identity, load_certificate
from alliance.keystore import load_private_key
from alliance.profile import load_profile

CRL_FILE = "crl.pem"


@dataclass(frozen=True)
class MspConfig:
    msp_id: str
    root_certs: tuple[bytes, ...]
    tls_root_certs: tuple[bytes, ...]
    revoked_serials: frozenset[int]
    revoked_at: Mapping[int, datetime] = field(default_factory=dict)
    """When the CRL says each serial was revoked (a check of an earlier moment accepts it)."""
    retired_roots: tuple[tuple[bytes, datetime], ...] = ()
    """Roots retired by `alliance keys renew-ca --finish`, each with when it was retired: they
    vouch only for a moment before that (a block `audit verify-chain` checks)."""


def _pem_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in (".pem", ".crt"))


def _load_crl(path: Path, roots: list[x509.Certificate]) -> x509.CertificateRevocationList:
    try:
        crl = x509.load_pem_x509_crl(path.read_bytes())
    except ValueError as exc:
        raise IdentityError(f"{path} is not a PEM CRL: {exc}") from exc
    for root in roots:
        if crl.issuer == root.subject and crl.is_signature_valid(root.public_key()):  # type: ignore[arg-type]
            return crl
    raise IdentityError(
        f"{path} is not signed by any CA of its MSP; remove it or re-issue it with "
        "`revoke_certificate`"
    )


def load_msp(msp_dir: Path, msp_id: str) -> MspConfig:
    """Read a verifying MSP folder (`cacerts/`, `tlscacerts/`, `crls/`)."""
    msp_dir = Path(msp_dir)
    roots = [p.read_bytes() for p in _pem_files(msp_dir / "cacerts")]
    if not roots:
        raise IdentityError(
            f"MSP {msp_id} at {msp_dir} has no root certificate in cacerts/; "
            "was it created by `alliance network init`?"
        )
    root_certs = [load_certificate(pem) for pem in roots]
    tls_roots = [p.read_bytes() for p in _pem_files(msp_dir / "tlscacerts")]
    for pem in tls_roots:
        load_certificate(pem)
    retired = _retired_roots(msp_dir)
    revoked: dict[int, datetime] = {}
    retired_certs = [load_certificate(pem) for pem, _ in retired]
    crl_paths = [(p, root_certs) for p in _pem_files(msp_dir / "crls")]
    crl_paths += [(p, retired_certs) for p in _pem_files(msp_dir / "retired" / "crls")]
    for path, signers in crl_paths:
        crl = _load_crl(path, signers)
        for entry in crl:
            when = entry.revocation_date_utc
            revoked[entry.serial_number] = min(when, revoked.get(entry.serial_number, when))
    return MspConfig(
        msp_id=msp_id,
        root_certs=tuple(roots),
        tls_root_certs=tuple(tls_roots),
        revoked_serials=frozenset(revoked),
        revoked_at=revoked,
        retired_roots=retired,
    )


def _retired_roots(msp_dir: Path) -> tuple[tuple[bytes, datetime], ...]:
    """`retired/cacerts/*` with their retirement times from `retired/retired_at.json`."""
    import json

    folder = msp_dir / "retired"
    times_path = folder / "retired_at.json"
    if not times_path.is_file():
        return ()
    try:
        times = json.loads(times_path.read_text())
        return tuple(
            (p.read_bytes(), datetime.fromtimestamp(int(times[f"cacerts/{p.name}"]), UTC))
            for p in _pem_files(folder / "cacerts")
        )
    except (ValueError, KeyError, OSError) as exc:
        raise IdentityError(f"{times_path} does not date every retired root: {exc}") from exc


class MspRegistry:
    """The MSPs of a channel, by MSP id."""

    def __init__(self, msps: dict[str, MspConfig]) -> None:
        self._msps = dict(msps)
        self._roots = {
            msp_id: tuple(load_certificate(pem) for pem in cfg.root_certs)
            for msp_id, cfg in self._msps.items()
        }
        self._retired = {
            msp_id: tuple((load_certificate(pem), until) for pem, until in cfg.retired_roots)
            for msp_id, cfg in self._msps.items()
        }
        self._facts: dict[tuple[str, bytes], tuple[
            bool, tuple[tuple[x509.Certificate, datetime | None], ...]]] = {}

    @classmethod
    def from_network(cls, net_dir: Path, *, include_candidates: bool = True) -> MspRegistry:
        """Every org of NET (members, auditors, the orderer org, and candidates unless excluded)."""
        profile = load_profile(net_dir)
        msps = {}
        for entry in profile.orgs.values():
            if entry.candidate and not include_candidates:
                continue
            msps[entry.msp_id] = load_msp(Path(net_dir) / entry.dir / "msp", entry.msp_id)
        return cls(msps)

    def msp_ids(self) -> list[str]:
        return sorted(self._msps)

    def get(self, msp_id: str) -> MspConfig:
        try:
            return self._msps[msp_id]
        except KeyError:
            known = ", ".join(self.msp_ids()) or "none"
            raise IdentityError(
                f"unknown MSP id {msp_id!r}; this channel knows: {known}"
            ) from None

    def validate(self, identity: Identity, at: datetime | None = None) -> None:
        """Raise IdentityError unless `identity` is a valid, unrevoked cert of its MSP."""
        msp = self.get(identity.msp_id)
        cert = identity.cert
        who = _Who(identity)
        is_ca, issuers = self._chain_facts(identity.msp_id, identity.certificate, cert)
        if is_ca:
            raise IdentityError(f"{who} is a CA certificate; a CA cannot act as an identity")
        when = at or datetime.now(UTC)
        issuer = next((root for root, until in issuers if until is None or when < until), None)
        if issuer is None:
            raise IdentityError(
                f"{who} was not issued by the CA of {identity.msp_id}: its signature does not "
                "verify against that MSP's root certificates"
                + self._retired_note(identity.msp_id, cert)
            )
        if when < cert.not_valid_before_utc:
            raise IdentityError(
                f"{who} is not valid before {cert.not_valid_before_utc.isoformat()}"
            )
        if when > cert.not_valid_after_utc:
            raise IdentityError(
                f"{who} expired on {cert.not_valid_after_utc.isoformat()}; "
                "the org must issue a new certificate"
            )
        if not issuer.not_valid_before_utc <= when <= issuer.not_valid_after_utc:
            raise IdentityError(f"the CA that issued {who} is not valid at {when.isoformat()}")
        if cert.serial_number in msp.revoked_serials:
            revoked_at = msp.revoked_at.get(cert.serial_number)
            # checking an earlier moment (a block's time): revoked from the CRL's date on; a
            # CRL's dates are whole seconds, so that second itself still counts as before
            if at is None or revoked_at is None or revoked_at + timedelta(seconds=1) <= when:
                raise IdentityError(
                    f"{who} of {identity.msp_id} has been revoked (it is on the CRL)"
                )

    def revoked_from(self, identity: Identity) -> datetime | None:
        """The moment from which `validate` refuses `identity` as revoked (the second after its
        CRL date), or None when no CRL names it: a check that accepted it just before may not
        be remembered past this."""
        msp = self.get(identity.msp_id)
        serial = identity.cert.serial_number
        if serial not in msp.revoked_serials:
            return None
        revoked_at = msp.revoked_at.get(serial)
        return None if revoked_at is None else revoked_at + timedelta(seconds=1)

    def vouched_until(self, identity: Identity, at: datetime | None = None) -> datetime | None:
        """When the root that vouches for `identity` at `at` stops vouching: its retirement
        time for a retired root, None for a current one (or when no root vouches)."""
        when = at or datetime.now(UTC)
        _, issuers = self._chain_facts(identity.msp_id, identity.certificate, identity.cert)
        for _, until in issuers:
            if until is None:
                return None
        return min((until for _, until in issuers if until is not None and when < until),
                   default=None)

    def _chain_facts(
        self, msp_id: str, pem: bytes, cert: x509.Certificate
    ) -> tuple[bool, tuple[tuple[x509.Certificate, datetime | None], ...]]:
        """Whether `cert` is a CA, and the roots of `msp_id` that issued it (with the time a
        retired one stopped vouching; None for a current root): a pure function of the bytes,
        cached because `audit verify-chain` and devnet see the same certificates again and
        again, and each check is an ECDSA verification."""
        key = (msp_id, pem)
        found = self._facts.get(key)
        if found is None:
            issuers = tuple(
                (root, until)
                for root, until in [*((r, None) for r in self._roots[msp_id]),
                                    *self._retired[msp_id]]
                if _directly_issued(cert, root)
            )
            found = (_is_ca(cert), issuers)
            if len(self._facts) > 65536:
                self._facts.clear()
            self._facts[key] = found
        return found

    def _retired_note(self, msp_id: str, cert: x509.Certificate) -> str:
        for root, until in self._retired[msp_id]:
            if _directly_issued(cert, root):
                return (f" (its CA was retired at {until.isoformat()}, when the overlap of "
                        "`alliance keys renew-ca` ended)")
        return ""

    def tls_roots_pem(self) -> bytes:
        """Every org's TLS CA certificates, concatenated: the trust roots for gRPC TLS."""
        out: list[bytes] = []
        for msp_id in self.msp_ids():
            for pem in self._msps[msp_id].tls_root_certs:
                out.append(pem if pem.endswith(b"\n") else pem + b"\n")
        return b"".join(out)


class _Who:
    """'certificate CN (serial S)', worked out only when a message needs it."""

    def __init__(self, identity: Identity) -> None:
        self._identity = identity

    def __str__(self) -> str:
        return f"certificate {self._identity.common_name!r} (serial {self._identity.serial})"


def _directly_issued(cert: x509.Certificate, root: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(root)
    except Exception:  # a wrong issuer fails in several ways; each means "not this root"
        return False
    return True


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def _issuing_ca(
    org_dir: Path, cert: x509.Certificate, org: str
) -> tuple[x509.Certificate, Path, Path]:
    """(CA certificate, its key file, its CRL file) of the org's CA that issued `cert`: the
    current CA, or during a CA overlap (`alliance keys renew-ca`) the old one."""
    msp = org_dir / "msp"
    candidates = [(org_dir / "ca" / "ca.pem", org_dir / "ca" / "ca.key", msp / "crls" / CRL_FILE)]
    for old in sorted((msp / "cacerts").glob("ca-old-*.pem")):
        serial = old.stem.removeprefix("ca-old-")
        candidates.append((org_dir / "ca" / f"ca.pem.old-{serial}",
                           org_dir / "ca" / f"ca.key.old-{serial}",
                           msp / "crls" / f"crl-old-{serial}.pem"))
    for cert_path, key_path, crl_path in candidates:
        if not cert_path.is_file():
            continue
        ca_cert = load_certificate(cert_path.read_bytes())
        if _directly_issued(cert, ca_cert):
            return ca_cert, key_path, crl_path
    raise IdentityError(
        f"certificate {cert.subject.rfc4514_string()} was not issued by {org}'s CA (nor by a CA "
        "it still trusts); an org can only revoke its own certificates"
    )


def revoke_certificate(
    net_dir: Path,
    org: str,
    cert_pem: bytes,
    passphrase: bytes,
    reason: x509.ReasonFlags | None = None,
) -> Path:
    """Add `cert_pem`'s serial to `orgs/<org>/msp/crls/crl.pem`, signed by the org's CA, with
    an X.509 reason code (CRLReason) when one is given; earlier entries keep theirs."""
    profile = load_profile(net_dir)
    org_dir = profile.org_dir(net_dir, org)
    cert = load_certificate(cert_pem)
    ca_cert, ca_key_path, crl_path = _issuing_ca(org_dir, cert, org)
    ca_key = load_private_key(ca_key_path, passphrase)
    entries: dict[int, datetime] = {}
    reasons: dict[int, x509.ReasonFlags] = {}
    number = 1
    if crl_path.exists():
        old = _load_crl(crl_path, [ca_cert])
        entries = {e.serial_number: e.revocation_date_utc for e in old}
        for e in old:
            with contextlib.suppress(x509.ExtensionNotFound):
                reasons[e.serial_number] = e.extensions.get_extension_for_class(
                    x509.CRLReason
                ).value.reason
        try:
            number = old.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number + 1
        except x509.ExtensionNotFound:
            number = len(entries) + 1
    now = datetime.now(UTC)
    entries.setdefault(cert.serial_number, now)
    if reason is not None:
        reasons.setdefault(cert.serial_number, reason)
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca_cert.subject)
        .last_update(now - timedelta(minutes=1))
        .next_update(max(ca_cert.not_valid_after_utc, now + timedelta(days=1)))
        .add_extension(x509.CRLNumber(number), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False
        )
    )
    for serial, when in sorted(entries.items()):
        entry = x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(when)
        if serial in reasons:
            entry = entry.add_extension(x509.CRLReason(reasons[serial]), critical=False)
        builder = builder.add_revoked_certificate(entry.build())
    crl = builder.sign(ca_key, hashes.SHA256())
    crl_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = crl_path.with_suffix(".pem.tmp")
    tmp.write_bytes(crl.public_bytes(serialization.Encoding.PEM))
    tmp.replace(crl_path)
    return crl_path
