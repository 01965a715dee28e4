"""`alliance network init`: crypto material in Fabric's MSP layout, the charter and the profile.

What cryptogen would make, made with `cryptography`: per org a signing CA and a TLS CA (ECDSA
P-256, 10 years), NodeOU-tagged identities (`admin`, `client`, `node` users and `peer0`), and an
`orderer` org with `orderer0`. Layout (relative to NET):

    charter.json, charter.sig.json (every founding admin's signature over the charter's hash),
    profile.json
    orgs/<org>/msp/{cacerts/ca.pem, tlscacerts/tlsca.pem, config.yaml, crls/}   verifying MSP
    orgs/<org>/ca/{ca.pem, ca.key}  orgs/<org>/tlsca/{tlsca.pem, tlsca.key}     CA keys encrypted
    orgs/<org>/users/<admin|client|node>/msp/...  .../tls/{ca.crt, client.crt, client.key}
    orgs/<org>/peers/peer0/{msp,tls}       keys unencrypted (Fabric's peer loads them)
    orgs/orderer/orderers/orderer0/{msp,tls}, orgs/orderer/users/admin
    devnet/tls/{ca.crt, server.crt, server.key}   issued by the orderer org's TLS CA

User keys (admin, client, node) are encrypted with the passphrase; see `alliance.keystore`.
"""

from __future__ import annotations

import ipaddress
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from alliance.charter import Charter, check_org_name, msp_id_for
from alliance.errors import CharterError, NetworkDirError
from alliance.founding import SIGNATURES_FILE, SignedCharter, save_signatures, sign_charter
from alliance.identity import Identity
from alliance.keystore import load_private_key, write_private_key
from alliance.profile import (
    ORDERER_ORG,
    PROFILE_FILE,
    Endpoint,
    OrgProfile,
    Profile,
    load_profile,
    save_profile,
)
from alliance.signing import EcdsaSigner

CHARTER_FILE = "charter.json"
CA_VALIDITY = timedelta(days=3650)
LEAF_VALIDITY = timedelta(days=365)
USERS = ("admin", "client", "node")
ROLES_FOR_NEW_ORGS = ("member", "auditor")
LOOPBACK_SANS = ("localhost", "127.0.0.1")
EMPTY_PASSPHRASE = "an empty passphrase cannot protect the keys: set ALLIANCE_PASSPHRASE"

NODE_OU_CONFIG = """NodeOUs:
  Enable: true
  ClientOUIdentifier:
    Certificate: cacerts/ca.pem
    OrganizationalUnitIdentifier: client
  PeerOUIdentifier:
    Certificate: cacerts/ca.pem
    OrganizationalUnitIdentifier: peer
  AdminOUIdentifier:
    Certificate: cacerts/ca.pem
    OrganizationalUnitIdentifier: admin
  OrdererOUIdentifier:
    Certificate: cacerts/ca.pem
    OrganizationalUnitIdentifier: orderer
"""


# --- certificates --------------------------------------------------------------------------


def _name(org: str, common_name: str, ou: str | None = None) -> x509.Name:
    attrs = [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
        x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, "California"),
        x509.NameAttribute(NameOID.LOCALITY_NAME, "San Francisco"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
    ]
    if ou:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ou))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attrs)


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


@dataclass(frozen=True)
class CertificateAuthority:
    """A CA certificate with its private key, able to issue leaf certificates."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @classmethod
    def create(
        cls, org: str, common_name: str, *, validity: timedelta = CA_VALIDITY
    ) -> CertificateAuthority:
        key = new_key()
        now = datetime.now(UTC)
        name = _name(org, common_name)
        ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + validity)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(ski, critical=False)
            .sign(key, hashes.SHA256())
        )
        return cls(cert, key)

    @property
    def pem(self) -> bytes:
        return cert_pem(self.cert)

    def issue(
        self,
        public_key: ec.EllipticCurvePublicKey,
        *,
        org: str,
        common_name: str,
        ou: str | None = None,
        tls_server: bool = False,
        tls_client: bool = False,
        sans: Sequence[str] = (),
        validity: timedelta = LEAF_VALIDITY,
        not_before: datetime | None = None,
    ) -> x509.Certificate:
        """Issue a leaf certificate; `validity` and `not_before` let tests mint expired ones."""
        start = not_before or datetime.now(UTC) - timedelta(minutes=5)
        end = min(start + validity, self.cert.not_valid_after_utc)
        ca_ski = self.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        tls = tls_server or tls_client
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(org, common_name, ou))
            .issuer_name(self.cert.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=tls,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
                critical=False,
            )
        )
        usages = []
        if tls_server:
            usages.append(ExtendedKeyUsageOID.SERVER_AUTH)
        if tls_client:
            usages.append(ExtendedKeyUsageOID.CLIENT_AUTH)
        if usages:
            builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        if sans:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([_general_name(s) for s in sans]), critical=False
            )
        return builder.sign(self.key, hashes.SHA256())


def _general_name(value: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(value))
    except ValueError:
        return x509.DNSName(value)


# --- writing the layout ----------------------------------------------------------------------


def _write(path: Path, data: bytes | str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        path.write_text(data)
    else:
        path.write_bytes(data)


def write_verifying_msp(
    msp_dir: Path, ca: CertificateAuthority, tlsca: CertificateAuthority
) -> None:
    """The MSP others use to check this org's identities: roots, TLS roots, NodeOUs, CRLs."""
    _write(msp_dir / "cacerts" / "ca.pem", ca.pem)
    _write(msp_dir / "tlscacerts" / "tlsca.pem", tlsca.pem)
    _write(msp_dir / "config.yaml", NODE_OU_CONFIG)
    (msp_dir / "crls").mkdir(parents=True, exist_ok=True)


def write_local_msp(
    msp_dir: Path,
    ca: CertificateAuthority,
    tlsca: CertificateAuthority,
    *,
    org: str,
    common_name: str,
    ou: str,
    passphrase: bytes | None,
    key_file: str,
    validity: timedelta = LEAF_VALIDITY,
) -> x509.Certificate:
    """A signing identity's local MSP folder; its key is encrypted unless `passphrase` is None."""
    key = new_key()
    cert = ca.issue(key.public_key(), org=org, common_name=common_name, ou=ou, validity=validity)
    _write(msp_dir / "cacerts" / "ca.pem", ca.pem)
    _write(msp_dir / "tlscacerts" / "tlsca.pem", tlsca.pem)
    _write(msp_dir / "config.yaml", NODE_OU_CONFIG)
    _write(msp_dir / "signcerts" / "cert.pem", cert_pem(cert))
    write_private_key(msp_dir / "keystore" / key_file, key, passphrase)
    return cert


def write_tls_dir(
    tls_dir: Path,
    tlsca: CertificateAuthority,
    *,
    org: str,
    common_name: str,
    server: bool,
    client: bool,
    sans: Sequence[str],
    passphrase: bytes | None,
    stem: str,
) -> x509.Certificate:
    """`ca.crt`, `<stem>.crt`, `<stem>.key` (stem `server` or `client`), as cryptogen does."""
    key = new_key()
    cert = tlsca.issue(
        key.public_key(),
        org=org,
        common_name=common_name,
        tls_server=server,
        tls_client=client,
        sans=sans,
    )
    _write(tls_dir / "ca.crt", tlsca.pem)
    _write(tls_dir / f"{stem}.crt", cert_pem(cert))
    write_private_key(tls_dir / f"{stem}.key", key, passphrase)
    return cert


def _user_common_name(user: str, org: str) -> str:
    return {"admin": f"Admin@{org}", "client": f"Client@{org}", "node": f"node.{org}"}[user]


def write_user(
    org_dir: Path,
    org: str,
    user: str,
    ca: CertificateAuthority,
    tlsca: CertificateAuthority,
    passphrase: bytes,
) -> None:
    """`users/<user>/{msp,tls}`: admin (OU=admin), client and node (OU=client); keys encrypted."""
    user_dir = org_dir / "users" / user
    common_name = _user_common_name(user, org)
    ou = "admin" if user == "admin" else "client"
    write_local_msp(
        user_dir / "msp",
        ca,
        tlsca,
        org=org,
        common_name=common_name,
        ou=ou,
        passphrase=passphrase,
        key_file="key.pem",
    )
    # The node daemon's MPC server also uses its TLS identity, hence serverAuth and the SANs.
    is_node = user == "node"
    write_tls_dir(
        user_dir / "tls",
        tlsca,
        org=org,
        common_name=common_name,
        server=is_node,
        client=True,
        sans=(*LOOPBACK_SANS, common_name) if is_node else (),
        passphrase=passphrase,
        stem="client",
    )


def write_fabric_node(
    org_dir: Path,
    org: str,
    kind: str,
    name: str,
    ca: CertificateAuthority,
    tlsca: CertificateAuthority,
) -> None:
    """`peers/peer0` or `orderers/orderer0`: Fabric loads these keys itself, so unencrypted."""
    node_dir = org_dir / f"{kind}s" / name
    common_name = f"{name}.{org}"
    write_local_msp(
        node_dir / "msp",
        ca,
        tlsca,
        org=org,
        common_name=common_name,
        ou=kind,
        passphrase=None,
        key_file="priv_sk",
    )
    write_tls_dir(
        node_dir / "tls",
        tlsca,
        org=org,
        common_name=common_name,
        server=True,
        client=True,
        sans=(*LOOPBACK_SANS, common_name),
        passphrase=None,
        stem="server",
    )


def write_org(
    net_dir: Path, org: str, passphrase: bytes, *, orderer: bool = False
) -> tuple[CertificateAuthority, CertificateAuthority]:
    """All of one org's material under `NET/orgs/<org>`; returns its (CA, TLS CA)."""
    org_dir = net_dir / "orgs" / org
    ca = CertificateAuthority.create(org, f"ca.{org}")
    tlsca = CertificateAuthority.create(org, f"tlsca.{org}")
    _write(org_dir / "ca" / "ca.pem", ca.pem)
    write_private_key(org_dir / "ca" / "ca.key", ca.key, passphrase)
    _write(org_dir / "tlsca" / "tlsca.pem", tlsca.pem)
    write_private_key(org_dir / "tlsca" / "tlsca.key", tlsca.key, passphrase)
    write_verifying_msp(org_dir / "msp", ca, tlsca)
    if orderer:
        write_user(org_dir, org, "admin", ca, tlsca, passphrase)
        write_fabric_node(org_dir, org, "orderer", "orderer0", ca, tlsca)
    else:
        for user in USERS:
            write_user(org_dir, org, user, ca, tlsca, passphrase)
        write_fabric_node(org_dir, org, "peer", "peer0", ca, tlsca)
    return ca, tlsca


def write_devnet_tls(net_dir: Path, orderer_tlsca: CertificateAuthority) -> None:
    write_tls_dir(
        net_dir / "devnet" / "tls",
        orderer_tlsca,
        org=ORDERER_ORG,
        common_name=f"devnet.{ORDERER_ORG}",
        server=True,
        client=True,
        sans=(*LOOPBACK_SANS, "devnet"),
        passphrase=None,
        stem="server",
    )


# --- the commands ----------------------------------------------------------------------------


def _org_ports(base_port: int, index: int) -> tuple[Endpoint, Endpoint]:
    if not base_port:
        return Endpoint(), Endpoint()
    return Endpoint(port=base_port + 10 + 2 * index), Endpoint(port=base_port + 11 + 2 * index)


def _check_new_orgs(members: list[str], auditors: list[str]) -> None:
    if not members:
        raise CharterError("an alliance needs at least one member: pass --members ORG[,ORG...]")
    seen: set[str] = set()
    for org in [*members, *auditors]:
        check_org_name(org)
        if org == ORDERER_ORG:
            raise CharterError(f"{ORDERER_ORG!r} is reserved for the ordering service's org")
        if org in seen:
            raise CharterError(f"org {org!r} is listed twice; give each org once")
        seen.add(org)


def free_loopback_port() -> int:
    """A TCP port nobody listens on now on 127.0.0.1 (the kernel's choice)."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _check_empty(net_dir: Path) -> None:
    """NET must be new or empty: a network's files mixed into another folder are hard to find
    and to remove."""
    existing = [p for p in (PROFILE_FILE, CHARTER_FILE, "orgs", "devnet") if (net_dir / p).exists()]
    if existing:
        raise NetworkDirError(
            f"{net_dir} already holds a network ({', '.join(existing)}); "
            "choose another --dir, or remove that directory to start over"
        )
    if net_dir.exists() and not net_dir.is_dir():
        raise NetworkDirError(f"{net_dir} is a file; choose a new directory with --dir")
    if net_dir.is_dir():
        entries = sorted(p.name for p in net_dir.iterdir())
        if entries:
            shown = ", ".join(entries[:5]) + (", ..." if len(entries) > 5 else "")
            raise NetworkDirError(
                f"{net_dir} is not empty (it holds {shown}); a network needs a directory of its "
                "own: choose a new or empty --dir"
            )


def init_network(
    net_dir: Path,
    members: list[str],
    auditors: list[str],
    passphrase: bytes,
    *,
    base_port: int = 0,
    devnet_port: int | None = None,
) -> Profile:
    """Create a new alliance in `net_dir`: MSPs for every org, the charter and the profile.

    devnet's port is fixed here, so clients find the ledger at one address across `down`/`up`:
    `devnet_port` if given, else `base_port`, else a port free now on loopback."""
    net_dir = Path(net_dir)
    _check_new_orgs(members, auditors)
    if not passphrase:
        raise NetworkDirError(EMPTY_PASSPHRASE)
    if base_port and not 1024 <= base_port <= 60000:
        raise NetworkDirError(f"base port {base_port} must be 0 (free ports) or in 1024..60000")
    if devnet_port is not None and not 1024 <= devnet_port <= 65535:
        raise NetworkDirError(f"devnet port {devnet_port} must be in 1024..65535")
    _check_empty(net_dir)
    fixed_port = devnet_port or base_port or free_loopback_port()
    charter = Charter.founding(members, auditors)
    net_dir.mkdir(parents=True, exist_ok=True)
    try:
        orgs: dict[str, OrgProfile] = {}
        for index, org in enumerate([*members, *auditors]):
            write_org(net_dir, org, passphrase)
            node, peer = _org_ports(base_port, index)
            orgs[org] = OrgProfile(
                msp_id=charter.members[org].msp_id,
                roles=tuple(charter.members[org].roles),
                dir=f"orgs/{org}",
                node=node,
                peer=peer,
            )
        _, orderer_tlsca = write_org(net_dir, ORDERER_ORG, passphrase, orderer=True)
        orgs[ORDERER_ORG] = OrgProfile(
            msp_id=msp_id_for(ORDERER_ORG), roles=(ORDERER_ORG,), dir=f"orgs/{ORDERER_ORG}"
        )
        write_devnet_tls(net_dir, orderer_tlsca)
        profile = Profile(
            name=charter.name,
            orgs=orgs,
            devnet=Endpoint(port=fixed_port),
            orderer=Endpoint(port=base_port + 1 if base_port else 0),
            base_port=base_port,
        )
        charter, signed = _founding_charter(net_dir, charter, passphrase)
        charter.save(net_dir / CHARTER_FILE)
        save_signatures(net_dir, signed)
        save_profile(net_dir, profile)
    except BaseException:
        for name in ("orgs", "devnet"):
            shutil.rmtree(net_dir / name, ignore_errors=True)
        for name in (PROFILE_FILE, CHARTER_FILE, SIGNATURES_FILE):
            (net_dir / name).unlink(missing_ok=True)
        raise
    return profile


def _founding_charter(
    net_dir: Path, charter: Charter, passphrase: bytes
) -> tuple[Charter, SignedCharter]:
    """`charter` naming every org's admin certificate as its founder, and each admin's signature
    over it (each with its own key)."""
    signers: dict[str, tuple[Identity, EcdsaSigner]] = {}
    for org, entry in charter.members.items():
        msp = net_dir / "orgs" / org / "users" / "admin" / "msp"
        identity = Identity(msp_id=entry.msp_id,
                            certificate=(msp / "signcerts" / "cert.pem").read_bytes())
        key = load_private_key(msp / "keystore" / "key.pem", passphrase)
        signers[org] = (identity, EcdsaSigner(key))
    founders = {org: identity.fingerprint for org, (identity, _) in signers.items()}
    charter = Charter.model_validate({**charter.model_dump(), "founders": founders})
    return charter, sign_charter(charter, signers)


def add_org(net_dir: Path, org: str, passphrase: bytes, *, role: str = "member") -> Path:
    """Material for an org that asks to join; a candidate in the profile until voted in."""
    net_dir = Path(net_dir)
    profile = load_profile(net_dir)
    check_org_name(org)
    if role not in ROLES_FOR_NEW_ORGS:
        raise CharterError(f"role {role!r} is not one of {', '.join(ROLES_FOR_NEW_ORGS)}")
    if org == ORDERER_ORG:
        raise CharterError(f"{ORDERER_ORG!r} is reserved for the ordering service's org")
    org_dir = net_dir / "orgs" / org
    if org in profile.orgs or org_dir.exists():
        raise NetworkDirError(f"org {org!r} already exists in {net_dir}; pick another name")
    if not passphrase:
        raise NetworkDirError(EMPTY_PASSPHRASE)
    try:
        write_org(net_dir, org, passphrase)
    except BaseException:
        shutil.rmtree(org_dir, ignore_errors=True)
        raise
    index = len(profile.member_orgs(include_candidates=True))
    node, peer = _org_ports(profile.base_port, index)
    profile.orgs[org] = OrgProfile(
        msp_id=msp_id_for(org), roles=(role,), dir=f"orgs/{org}", node=node, peer=peer,
        candidate=True,
    )
    save_profile(net_dir, profile)
    return org_dir

