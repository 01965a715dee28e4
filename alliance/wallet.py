"""An org's identities as the programs use them: (Identity, signer) pairs and TLS material.

Reads the layout `alliance network init` writes; decrypts keys with the passphrase (by default
from `ALLIANCE_PASSPHRASE`, see `alliance.keystore.get_passphrase`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from alliance.errors import IdentityError
from alliance.identity import Identity, load_certificate
from alliance.keystore import get_passphrase, load_private_key, private_key_pem
from alliance.msp import MspRegistry
from alliance.profile import load_profile
from alliance.signing import EcdsaSigner

USERS = ("admin", "client", "node")


@dataclass(frozen=True)
class TlsMaterial:
    """PEM bytes ready for `grpc.ssl_channel_credentials` / `grpc.ssl_server_credentials`."""

    root_certs: bytes
    cert_chain: bytes
    private_key: bytes
    """Unencrypted PKCS#8 PEM, decrypted in memory only."""


def _user_dir(net_dir: Path, org: str, user: str) -> Path:
    profile = load_profile(net_dir)
    if org not in profile.orgs:
        known = ", ".join(sorted(profile.orgs))
        raise IdentityError(f"unknown org {org!r} in {net_dir}; known orgs: {known}")
    if user not in USERS:
        raise IdentityError(f"unknown user {user!r}; users are: {', '.join(USERS)}")
    user_dir = profile.org_dir(net_dir, org) / "users" / user
    if not user_dir.is_dir():
        have = sorted(p.name for p in user_dir.parent.glob("*") if p.is_dir())
        raise IdentityError(
            f"org {org!r} has no user {user!r}; it has: {', '.join(have) or 'none'}"
        )
    return user_dir


def has_key(net_dir: Path, org: str, user: str = "admin") -> bool:
    """Whether NET holds `user` of `org`'s private key (on a multi-machine alliance, each org's
    admin key stays on that org's machine)."""
    try:
        user_dir = _user_dir(Path(net_dir), org, user)
    except IdentityError:
        return False
    keystore = user_dir / "msp" / "keystore"
    return (keystore / "key.pem").is_file() or (keystore / "pkcs11.json").is_file()


def load_user(
    net_dir: Path, org: str, user: str = "admin", passphrase: bytes | None = None
) -> tuple[Identity, EcdsaSigner]:
    """The identity and signer of `user` (admin, client or node) of `org`: its encrypted key, or
    the PKCS#11 token its keystore's `pkcs11.json` names."""
    user_dir = _user_dir(Path(net_dir), org, user)
    msp_id = load_profile(net_dir).orgs[org].msp_id
    cert_path = user_dir / "msp" / "signcerts" / "cert.pem"
    if not cert_path.is_file():
        raise IdentityError(f"no signing certificate at {cert_path}")
    certificate = cert_path.read_bytes()
    load_certificate(certificate)
    identity = Identity(msp_id=msp_id, certificate=certificate)
    token_ref = user_dir / "msp" / "keystore" / "pkcs11.json"
    if token_ref.is_file():  # the key lives in a PKCS#11 token (alliance/hsm.py)
        from alliance.hsm import Pkcs11Signer, TokenKey

        hsm = Pkcs11Signer(TokenKey.load(token_ref))
        if identity.public_key.public_numbers() != hsm.public_key.public_numbers():
            hsm.close()
            raise IdentityError(f"the token key of {org}/{user} does not match its certificate")
        return identity, hsm  # type: ignore[return-value]
    key = load_private_key(
        user_dir / "msp" / "keystore" / "key.pem",
        passphrase if passphrase is not None else get_passphrase(),
    )
    if identity.public_key.public_numbers() != key.public_key().public_numbers():
        raise IdentityError(f"the key of {org}/{user} does not match its certificate")
    return identity, EcdsaSigner(key)


def user_tls(
    net_dir: Path, org: str, user: str, passphrase: bytes | None = None
) -> TlsMaterial:
    """`user`'s TLS client (for `node`: also server) identity, trusting every org's TLS CA.

    A key kept in a PKCS#11 token (`tls/pkcs11.json` instead of `tls/client.key`) is handed to
    gRPC as an OpenSSL engine reference (alliance/grpc_openssl.py): it never leaves the token."""
    from alliance.hsm import CONFIG_FILE, TokenKey, key_location

    tls_dir = _user_dir(Path(net_dir), org, user) / "tls"
    key_file = key_location(tls_dir / "client.key")
    if key_file.name == CONFIG_FILE:
        from alliance.grpc_openssl import token_tls_key

        private_key = token_tls_key(TokenKey.load(key_file))
    else:
        private_key = private_key_pem(load_private_key(
            tls_dir / "client.key", passphrase if passphrase is not None else get_passphrase()
        ))
    return TlsMaterial(
        root_certs=MspRegistry.from_network(net_dir).tls_roots_pem(),
        cert_chain=(tls_dir / "client.crt").read_bytes(),
        private_key=private_key,
    )


def devnet_tls_ca(net_dir: Path) -> bytes:
    """What a client of devnet trusts: devnet's own TLS CA, and nothing more (trusting every
    org's TLS CA would let any org's peer certificate, whose key is stored unencrypted, pose as
    the ledger)."""
    ca = Path(net_dir) / "devnet" / "tls" / "ca.crt"
    if not ca.is_file():
        raise IdentityError(f"no devnet TLS CA at {ca}; re-run `alliance network init`")
    return ca.read_bytes()


def devnet_tls(net_dir: Path) -> TlsMaterial:
    """The embedded ledger's TLS server identity (its key is stored unencrypted)."""
    tls_dir = Path(net_dir) / "devnet" / "tls"
    root_certs = devnet_tls_ca(net_dir)
    key = load_private_key(tls_dir / "server.key", None)
    return TlsMaterial(
        root_certs=root_certs,
        cert_chain=(tls_dir / "server.crt").read_bytes(),
        private_key=private_key_pem(key),
    )
