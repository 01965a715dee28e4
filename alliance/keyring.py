"""An org's identities on disk and their state (pure apart from reading NET's files).

Every signing and TLS identity `alliance network init` writes for an org — the admin, client and
node users (each with an MSP signing certificate and a TLS certificate), the peer, and the org's
two CAs — with where its key lives, its serial, its expiry, and a status: `active`, `expiring`
(within `EXPIRY_WARNING_DAYS`), `expired`, `revoked` (on the org's CRL, with the X.509 reason)
or `revoked-on-ledger` (recorded by the contract's RevokeCertificate).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from alliance.hsm import key_location
from alliance.profile import load_profile

EXPIRY_WARNING_DAYS = 30
USERS = ("admin", "client", "node")

REASONS: dict[str, x509.ReasonFlags] = {
    "unspecified": x509.ReasonFlags.unspecified,
    "keyCompromise": x509.ReasonFlags.key_compromise,
    "cACompromise": x509.ReasonFlags.ca_compromise,
    "affiliationChanged": x509.ReasonFlags.affiliation_changed,
    "superseded": x509.ReasonFlags.superseded,
    "cessationOfOperation": x509.ReasonFlags.cessation_of_operation,
    "certificateHold": x509.ReasonFlags.certificate_hold,
    "privilegeWithdrawn": x509.ReasonFlags.privilege_withdrawn,
    "aACompromise": x509.ReasonFlags.aa_compromise,
}
"""RFC 5280 CRLReason names (`removeFromCRL` is not a reason to revoke)."""


@dataclass(frozen=True)
class KeyEntry:
    identity: str
    """`admin`, `client`, `node`, `peer0`, with `/tls` for TLS identities; `ca`, `tlsca`."""
    role: str
    cert_path: Path
    key_path: Path
    serial: str
    fingerprint: str
    not_after: datetime
    status: str

    def to_dict(self) -> dict[str, object]:
        return {
            "identity": self.identity,
            "role": self.role,
            "certificate": str(self.cert_path),
            "key": str(self.key_path),
            "serial": self.serial,
            "fingerprint": self.fingerprint,
            "not_after": self.not_after.isoformat(),
            "status": self.status,
        }


def fingerprint(cert: x509.Certificate) -> str:
    import hashlib

    return "sha256:" + hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest()


def status(
    cert: x509.Certificate,
    now: datetime,
    *,
    crl: dict[int, str] | None = None,
    revoked_on_ledger: Iterable[str] = (),
) -> str:
    """The state of `cert` at `now` (pure): CRL and ledger revocations first, then expiry."""
    reason = (crl or {}).get(cert.serial_number)
    if reason is not None:
        return f"revoked ({reason})"
    if fingerprint(cert) in set(revoked_on_ledger):
        return "revoked-on-ledger"
    if now > cert.not_valid_after_utc:
        return "expired"
    left = cert.not_valid_after_utc - now
    if left <= timedelta(days=EXPIRY_WARNING_DAYS):
        return f"expiring in {max(left.days, 0)} days"
    return "active"


def crl_entries(msp_dir: Path) -> dict[int, str]:
    """Serial → reason name of every certificate on the org's CRLs (`msp/crls/`)."""
    out: dict[int, str] = {}
    folder = msp_dir / "crls"
    if not folder.is_dir():
        return out
    names = {flag: name for name, flag in REASONS.items()}
    for path in sorted(folder.glob("*.pem")):
        crl = x509.load_pem_x509_crl(path.read_bytes())
        for entry in crl:
            try:
                flag = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
                out[entry.serial_number] = names.get(flag, flag.value)
            except x509.ExtensionNotFound:
                out[entry.serial_number] = "unspecified"
    return out


def identity_files(net_dir: Path, org: str) -> list[tuple[str, str, Path, Path]]:
    """(identity, role, certificate path, key path) of every identity of `org` in NET."""
    org_dir = load_profile(net_dir).org_dir(net_dir, org)
    out = []
    for user in USERS:
        base = org_dir / "users" / user
        if not base.is_dir():
            continue
        role = "admin" if user == "admin" else "client"
        key = key_location(base / "msp" / "keystore" / "key.pem")
        out.append((user, role, base / "msp" / "signcerts" / "cert.pem", key))
        out.append((f"{user}/tls", "tls", base / "tls" / "client.crt",
                    key_location(base / "tls" / "client.key")))
    out.append(("ca", "ca", org_dir / "ca" / "ca.pem", org_dir / "ca" / "ca.key"))
    out.append(("tlsca", "ca", org_dir / "tlsca" / "tlsca.pem", org_dir / "tlsca" / "tlsca.key"))
    peer = org_dir / "peers" / "peer0"
    if peer.is_dir():
        certs = sorted((peer / "msp" / "signcerts").glob("*.pem"))
        keys = sorted((peer / "msp" / "keystore").glob("*"))
        if certs and keys:
            out.append(("peer0", "peer", certs[0], keys[0]))
        out.append(("peer0/tls", "tls", peer / "tls" / "server.crt", peer / "tls" / "server.key"))
    return [entry for entry in out if entry[2].is_file()]


def list_keys(
    net_dir: Path, org: str, now: datetime | None = None, revoked_on_ledger: Iterable[str] = ()
) -> list[KeyEntry]:
    now = now or datetime.now(UTC)
    org_dir = load_profile(net_dir).org_dir(net_dir, org)
    crl = crl_entries(org_dir / "msp")
    revoked = set(revoked_on_ledger)
    entries = []
    for name, role, cert_path, key_path in identity_files(net_dir, org):
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        entries.append(
            KeyEntry(
                identity=name,
                role=role,
                cert_path=cert_path,
                key_path=key_path,
                serial=format(cert.serial_number, "x"),
                fingerprint=fingerprint(cert),
                not_after=cert.not_valid_after_utc,
                status=status(cert, now, crl=crl, revoked_on_ledger=revoked),
            )
        )
    return entries


def expiry_warnings(net_dir: Path, orgs: Iterable[str], now: datetime | None = None
                    ) -> list[str]:
    """One line per identity of `orgs` that is expired, expiring within
    `EXPIRY_WARNING_DAYS`, or on its org's CRL (pure apart from reading NET's files)."""
    out = []
    now = now or datetime.now(UTC)
    for org in orgs:
        for entry in list_keys(net_dir, org, now):
            if entry.status != "active":
                out.append(f"{org} {entry.identity}: {entry.status} (not after "
                           f"{entry.not_after.date().isoformat()}, serial {entry.serial})")
        overlap = ca_overlap_warning(net_dir, org, now)
        if overlap:
            out.append(overlap)
    return out


def ca_overlap_warning(net_dir: Path, org: str, now: datetime) -> str:
    """A line when `org` is in a CA overlap (`alliance keys renew-ca`) that is over or ends
    within `EXPIRY_WARNING_DAYS`; '' otherwise."""
    import json

    path = load_profile(net_dir).org_dir(net_dir, org) / "ca" / "renewal.json"
    if not path.is_file():
        return ""
    ends = datetime.fromtimestamp(int(json.loads(path.read_text())["overlap_ends"]), UTC)
    day = ends.date().isoformat()
    if ends <= now:
        return (f"{org} old CA: its overlap ended {day}; the ledger and the nodes refuse what "
                f"it issued, its roots are still in the MSP: run `alliance --as {org} keys "
                "renew-ca --finish`")
    if ends - now <= timedelta(days=EXPIRY_WARNING_DAYS):
        return (f"{org} old CA: trusted until {day} (in {(ends - now).days} days, the end of "
                "the `keys renew-ca` overlap); identities still on it stop working then")
    return ""


def encrypted_key_files(net_dir: Path, org: str) -> list[Path]:
    """Every passphrase-encrypted private key of `org` (users, CAs), in path order."""
    from alliance.keystore import key_is_encrypted

    org_dir = load_profile(net_dir).org_dir(net_dir, org)
    return sorted(
        p for p in org_dir.rglob("*")
        if p.is_file() and p.suffix in (".pem", ".key") and key_is_encrypted(p)
    )


def change_passphrase(net_dir: Path, org: str, old: bytes, new: bytes) -> list[Path]:
    """Re-encrypt every encrypted key of `org` under `new` (scrypt, whatever KDF it had): all
    are decrypted first, so a wrong `old` passphrase changes nothing; each file is replaced
    whole (write beside it, then rename)."""
    from alliance.keystore import load_private_key, write_private_key

    paths = encrypted_key_files(net_dir, org)
    keys = [(path, load_private_key(path, old)) for path in paths]
    for path, key in keys:
        tmp = path.with_name(path.name + ".new")
        write_private_key(tmp, key, new)
        tmp.replace(path)
    return paths
