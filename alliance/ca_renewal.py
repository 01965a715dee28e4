"""`alliance keys renew-ca` on disk: a new signing CA and TLS CA for an org, both roots trusted
in its verifying MSP for an overlap, then the old ones retired.

During the overlap NET/orgs/<org>/ holds

    ca/ca.pem, ca/ca.key                 the new CA (the old kept as *.old-<serial>)
    tlsca/tlsca.pem, tlsca/tlsca.key     the new TLS CA (likewise)
    msp/cacerts/{ca.pem, ca-old-<serial>.pem}          both roots
    msp/tlscacerts/{tlsca.pem, tlsca-old-<serial>.pem}
    msp/crls/{crl.pem, crl-old-<serial>.pem}           each CA's own CRL
    msp/config.yaml                      NodeOUs certified by any root of the MSP
    ca/renewal.json                      the old serials and when the overlap ends

and every local MSP (users', peer0's) and TLS folder carries the same roots. `finish` moves the
old roots and their CRL to msp/retired/ with the time they were retired: the MSP refuses their
certificates from then on, while `audit verify-chain` still accepts what they signed before
(`alliance.msp` reads retired roots with their end). Pure file handling apart from the clock.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from alliance.errors import IdentityError
from alliance.identity import load_certificate
from alliance.keystore import load_private_key, write_private_key
from alliance.network_init import (
    LOOPBACK_SANS,
    CertificateAuthority,
    cert_pem,
    new_key,
)
from alliance.profile import load_profile

RENEWAL_FILE = "renewal.json"
RETIRED_DIR = "retired"
RETIRED_TIMES = "retired_at.json"
NODE_OU_ANY_ROOT = """NodeOUs:
  Enable: true
  ClientOUIdentifier:
    OrganizationalUnitIdentifier: client
  PeerOUIdentifier:
    OrganizationalUnitIdentifier: peer
  AdminOUIdentifier:
    OrganizationalUnitIdentifier: admin
  OrdererOUIdentifier:
    OrganizationalUnitIdentifier: orderer
"""
"""NodeOUs without a certifying root: with two roots, either may vouch for the OU (Fabric's
`Certificate:` field would restrict the OU to one root)."""


@dataclass(frozen=True)
class Renewal:
    """The PEMs of a renewal: what the ledger's RenewCertificateAuthority takes."""

    ca: bytes
    tlsca: bytes
    previous_ca: bytes
    previous_tlsca: bytes


def serial_of(pem: bytes) -> str:
    return format(load_certificate(pem).serial_number, "x")


_serial = serial_of


def _generation(org_dir: Path, name: str) -> int:
    return 2 + len(list((org_dir / name).glob(f"{name}.pem.old-*")))


def renewal_state(org_dir: Path) -> dict[str, object] | None:
    """The running renewal's record (old serials, overlap end), or None."""
    path = org_dir / "ca" / RENEWAL_FILE
    return json.loads(path.read_text()) if path.is_file() else None


def start(net_dir: Path, org: str, passphrase: bytes, overlap_ends: int) -> Renewal:
    """New CA and TLS CA for `org`; the MSP trusts the old and new roots. Refuses while an
    earlier overlap still runs (finish it first)."""
    org_dir = load_profile(net_dir).org_dir(net_dir, org)
    if renewal_state(org_dir) is not None:
        raise IdentityError(
            f"{org} is in a CA overlap already; end it first with `alliance keys renew-ca "
            "--finish`"
        )
    msp = org_dir / "msp"
    old: dict[str, bytes] = {}
    new: dict[str, bytes] = {}
    for name, folder in (("ca", "cacerts"), ("tlsca", "tlscacerts")):
        pem = (org_dir / name / f"{name}.pem").read_bytes()
        load_private_key(org_dir / name / f"{name}.key", passphrase)  # the passphrase is right
        serial = _serial(pem)
        created = CertificateAuthority.create(org, f"{name}{_generation(org_dir, name)}.{org}")
        (org_dir / name / f"{name}.pem").replace(org_dir / name / f"{name}.pem.old-{serial}")
        (org_dir / name / f"{name}.key").replace(org_dir / name / f"{name}.key.old-{serial}")
        write_private_key(org_dir / name / f"{name}.key", created.key, passphrase)
        (org_dir / name / f"{name}.pem").write_bytes(created.pem)
        (msp / folder / f"{name}-old-{serial}.pem").write_bytes(pem)
        (msp / folder / f"{name}.pem").write_bytes(created.pem)
        old[name], new[name] = pem, created.pem
    crl = msp / "crls" / "crl.pem"
    if crl.is_file():
        crl.replace(msp / "crls" / f"crl-old-{_serial(old['ca'])}.pem")
    (msp / "config.yaml").write_text(NODE_OU_ANY_ROOT)
    (org_dir / "ca" / RENEWAL_FILE).write_text(json.dumps({
        "old_ca_serial": _serial(old["ca"]), "old_tlsca_serial": _serial(old["tlsca"]),
        "overlap_ends": overlap_ends}, indent=1) + "\n")
    sync_local_msps(org_dir)
    return Renewal(new["ca"], new["tlsca"], old["ca"], old["tlsca"])


def undo_start(net_dir: Path, org: str) -> None:
    """Put the old CAs back as `start` found them (the ledger refused the renewal)."""
    org_dir = load_profile(net_dir).org_dir(net_dir, org)
    state = renewal_state(org_dir)
    if state is None:
        return
    msp = org_dir / "msp"
    for name, folder in (("ca", "cacerts"), ("tlsca", "tlscacerts")):
        serial = str(state[f"old_{name}_serial"])
        for suffix in ("pem", "key"):
            (org_dir / name / f"{name}.{suffix}.old-{serial}").replace(
                org_dir / name / f"{name}.{suffix}")
        (msp / folder / f"{name}-old-{serial}.pem").replace(msp / folder / f"{name}.pem")
    old_crl = msp / "crls" / f"crl-old-{state['old_ca_serial']}.pem"
    if old_crl.is_file():
        old_crl.replace(msp / "crls" / "crl.pem")
    from alliance.network_init import NODE_OU_CONFIG

    (msp / "config.yaml").write_text(NODE_OU_CONFIG)
    (org_dir / "ca" / RENEWAL_FILE).unlink()
    sync_local_msps(org_dir)


def reissue_unrecorded(net_dir: Path, org: str, passphrase: bytes) -> list[str]:
    """New certificates from the new CAs for the identities the ledger does not track one by
    one: the peer's signing and TLS identities (unencrypted keys, as Fabric loads them) and the
    admin's and client's TLS identities. Each key is written before its certificate."""
    org_dir = load_profile(net_dir).org_dir(net_dir, org)
    ca = CertificateAuthority(load_certificate((org_dir / "ca" / "ca.pem").read_bytes()),
                              load_private_key(org_dir / "ca" / "ca.key", passphrase))
    tlsca = CertificateAuthority(
        load_certificate((org_dir / "tlsca" / "tlsca.pem").read_bytes()),
        load_private_key(org_dir / "tlsca" / "tlsca.key", passphrase))
    done = []
    peer = org_dir / "peers" / "peer0"
    if peer.is_dir():
        certs = sorted((peer / "msp" / "signcerts").glob("*.pem"))
        keys = sorted((peer / "msp" / "keystore").glob("*"))
        if certs and keys:
            key = new_key()
            cn = f"peer0.{org}"
            cert = ca.issue(key.public_key(), org=org, common_name=cn, ou="peer")
            _replace(keys[0], certs[0], key, cert, None)
            done.append("peer0")
        key = new_key()
        cert = tlsca.issue(key.public_key(), org=org, common_name=f"peer0.{org}",
                           tls_server=True, tls_client=True,
                           sans=(*LOOPBACK_SANS, f"peer0.{org}"))
        _replace(peer / "tls" / "server.key", peer / "tls" / "server.crt", key, cert, None)
        done.append("peer0/tls")
    for user, cn in (("admin", f"Admin@{org}"), ("client", f"Client@{org}")):
        tls = org_dir / "users" / user / "tls"
        if not (tls / "client.crt").is_file():
            continue
        key = new_key()
        cert = tlsca.issue(key.public_key(), org=org, common_name=cn, tls_client=True)
        _replace(tls / "client.key", tls / "client.crt", key, cert, passphrase)
        done.append(f"{user}/tls")
    return done


def _replace(key_path: Path, cert_path: Path, key: object, cert: x509.Certificate,
             passphrase: bytes | None) -> None:
    tmp_key = key_path.with_name(key_path.name + ".new")
    write_private_key(tmp_key, key, passphrase)  # type: ignore[arg-type]
    tmp_cert = cert_path.with_name(cert_path.name + ".new")
    tmp_cert.write_bytes(cert_pem(cert))
    tmp_key.replace(key_path)
    tmp_cert.replace(cert_path)


def finish(net_dir: Path, org: str, retired_at: int) -> list[str]:
    """Retire the old roots: out of the MSP's `cacerts`/`tlscacerts` (and their CRL out of
    `crls`) into msp/retired/, with `retired_at`. Returns the retired files' names."""
    org_dir = load_profile(net_dir).org_dir(net_dir, org)
    if renewal_state(org_dir) is None:
        raise IdentityError(f"{org} has no CA overlap to end; see `alliance keys renew-ca`")
    msp = org_dir / "msp"
    retired = msp / RETIRED_DIR
    times_path = retired / RETIRED_TIMES
    times = json.loads(times_path.read_text()) if times_path.is_file() else {}
    moved = []
    for folder, pattern in (("cacerts", "ca-old-*.pem"), ("tlscacerts", "tlsca-old-*.pem"),
                            ("crls", "crl-old-*.pem")):
        for path in sorted((msp / folder).glob(pattern)):
            target = retired / folder / path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(path), target)
            times[f"{folder}/{path.name}"] = retired_at
            moved.append(f"{folder}/{path.name}")
    retired.mkdir(parents=True, exist_ok=True)
    times_path.write_text(json.dumps(times, indent=1, sort_keys=True) + "\n")
    (org_dir / "ca" / RENEWAL_FILE).unlink()
    sync_local_msps(org_dir)
    return moved


def date_retirement(net_dir: Path, org: str, names: list[str], retired_at: int) -> None:
    """Set when the retired files `names` (as `finish` returns them) were retired."""
    times_path = load_profile(net_dir).org_dir(net_dir, org) / "msp" / RETIRED_DIR / RETIRED_TIMES
    times = json.loads(times_path.read_text())
    times.update({name: retired_at for name in names})
    times_path.write_text(json.dumps(times, indent=1, sort_keys=True) + "\n")


def retired_at(net_dir: Path, org: str, names: list[str]) -> int:
    """When the retired files `names` were retired (the latest of them; 0 for none)."""
    times_path = load_profile(net_dir).org_dir(net_dir, org) / "msp" / RETIRED_DIR / RETIRED_TIMES
    times = json.loads(times_path.read_text()) if times_path.is_file() else {}
    return max((int(times[n]) for n in names if n in times), default=0)


def sync_local_msps(org_dir: Path) -> None:
    """Every local MSP (users', peer0's) gets the org MSP's roots and NodeOU config, and every
    TLS folder's `ca.crt` the org's TLS roots (concatenated)."""
    msp = org_dir / "msp"
    roots = sorted((msp / "cacerts").glob("*.pem"))
    tls_roots = sorted((msp / "tlscacerts").glob("*.pem"))
    local = [*org_dir.glob("users/*/msp"), *org_dir.glob("peers/*/msp")]
    for folder in local:
        for sub, sources in (("cacerts", roots), ("tlscacerts", tls_roots)):
            target = folder / sub
            if target.is_dir():
                for old in target.glob("*.pem"):
                    if old.name not in {s.name for s in sources}:
                        old.unlink()
            target.mkdir(parents=True, exist_ok=True)
            for source in sources:
                shutil.copyfile(source, target / source.name)
        shutil.copyfile(msp / "config.yaml", folder / "config.yaml")
    bundle = b"".join(p.read_bytes() for p in tls_roots)
    for ca_crt in [*org_dir.glob("users/*/tls/ca.crt"), *org_dir.glob("peers/*/tls/ca.crt")]:
        ca_crt.write_bytes(bundle)
