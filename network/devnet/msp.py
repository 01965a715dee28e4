"""Who may speak to devnet: every creator validated against the channel's MSPs, every signature
verified, as a Fabric peer's MSP manager and orderer sig-filter do.

Parsed certificates and the outcome of validating them are cached by the serialized identity
bytes (a client sends the same bytes on every call); the validity period is re-checked on each
use, so a certificate that expires while devnet runs stops working. The MSP folders are watched
(`MspWatcher`): an org added to NET, or a certificate revoked (a new CRL), takes effect at once
for unknown creators and within a second for cached ones, as a channel config update would.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from alliance.errors import IdentityError
from alliance.identity import Identity
from alliance.msp import MspRegistry
from alliance.signing import is_low_s
from network.protoutil import MalformedMessage, deserialize_identity

_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())


class AccessDenied(Exception):
    """A creator or signature is not accepted; the text says which and why."""


@dataclass(frozen=True)
class Creator:
    """A validated identity and its public key, ready for signature checks."""

    identity: Identity
    public_key: ec.EllipticCurvePublicKey
    not_after: datetime

    @property
    def msp_id(self) -> str:
        return self.identity.msp_id


class MspWatcher:
    """Notices changes to NET's profile and MSP folders (new orgs, CA certs, CRLs)."""

    def __init__(self, net_dir: Path) -> None:
        self.net_dir = Path(net_dir)
        self._stamp = self._current()

    def _current(self) -> tuple[tuple[str, int], ...]:
        paths = [self.net_dir / "profile.json"]
        for pattern in ("orgs/*/msp/crls/*", "orgs/*/msp/cacerts/*",
                        "orgs/*/peers/peer0/msp/signcerts/*"):
            paths.extend(self.net_dir.glob(pattern))
        out = []
        for p in paths:
            try:
                out.append((str(p), p.stat().st_mtime_ns))
            except OSError:
                continue
        return tuple(sorted(out))

    def load(self) -> MspRegistry:
        return MspRegistry.from_network(self.net_dir)

    def changed(self) -> bool:
        stamp = self._current()
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        return True

    def retry(self) -> None:
        """Forget the last stamp, so the next check reloads (the folders were caught mid-change)."""
        self._stamp = ()


class CreatorValidator:
    """Validates serialized identities against an MspRegistry and verifies their signatures."""

    def __init__(
        self, registry: MspRegistry, watcher: MspWatcher | None = None, cache_size: int = 4096
    ) -> None:
        self._registry = registry
        self._watcher = watcher
        self._cache: OrderedDict[bytes, Creator] = OrderedDict()
        self._cache_size = cache_size
        self.generation = 0
        """How many times the MSPs were reloaded (the peers follow: devnet's server)."""

    def refresh(self) -> bool:
        """Reload the MSPs if their files changed; True when they did."""
        if self._watcher is None or not self._watcher.changed():
            return False
        try:
            registry = self._watcher.load()
        except IdentityError:
            self._watcher.retry()  # a half-written folder: keep the old view, reload next check
            return False
        self._registry = registry
        self._cache.clear()
        self.generation += 1
        return True

    def creator(self, serialized: bytes) -> Creator:
        """The validated creator behind `serialized`, or AccessDenied saying why not."""
        cached = self._cache.get(serialized)
        now = datetime.now(UTC)
        if cached is not None:
            if now >= cached.not_after:
                self._cache.pop(serialized, None)
            else:
                return cached
        try:
            msp_id, pem = deserialize_identity(serialized)
            identity = Identity(msp_id=msp_id, certificate=pem)
            try:
                self._registry.validate(identity, now)
            except IdentityError:
                if not self.refresh():
                    raise
                self._registry.validate(identity, now)
            check_node_ou(identity)
            # cached until the certificate expires, its (retired) root stops vouching for it,
            # or the CRL's revocation of it takes effect (accepted within the CRL date's second:
            # remembered longer, it would be accepted until the next MSP reload)
            until = identity.cert.not_valid_after_utc
            for ends in (self._registry.vouched_until(identity, now),
                         self._registry.revoked_from(identity)):
                if ends is not None:
                    until = min(until, ends)
            creator = Creator(identity, identity.public_key, until)
        except (IdentityError, MalformedMessage) as exc:
            raise AccessDenied(f"the creator certificate is not valid: {exc}") from exc
        self._cache[serialized] = creator
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return creator

    def verify(self, serialized: bytes, message: bytes, signature: bytes, what: str) -> Creator:
        """Validate the creator and its low-S ECDSA signature over `message`."""
        creator = self.creator(serialized)
        verify_signature(creator.public_key, message, signature, what)
        return creator


NODE_OU_ROLES = ("admin", "client", "orderer", "peer")
"""The NodeOUs of `config.yaml` (`NodeOUs: Enable: true`): with them on, Fabric's MSP accepts an
identity only when it carries exactly one of these OUs (`validateIdentityOUsV142`)."""


def check_node_ou(identity: Identity) -> None:
    """Fabric's NodeOU rule: one of client, peer, admin, orderer, and only one."""
    roles = {ou.lower() for ou in identity.organizational_units} & set(NODE_OU_ROLES)
    if len(roles) != 1:
        found = ", ".join(identity.organizational_units) or "none"
        raise AccessDenied(
            "the identity must be a client, a peer, an orderer or an admin identity to be "
            f"valid, not a combination of them (OUs: {found}); issue it with one NodeOU"
        )


def certificate_expired(serialized: bytes, now: float) -> bool:
    """Fabric's expiration filters (peer and orderer): is the creator's certificate past its
    notAfter? An identity that cannot be read is left to the MSP check, which says why."""
    try:
        _, pem = deserialize_identity(serialized)
        cert = x509.load_pem_x509_certificate(pem)
    except Exception:
        return False
    return cert.not_valid_after_utc.timestamp() < now


def verify_signature(
    public_key: ec.EllipticCurvePublicKey, message: bytes, signature: bytes, what: str
) -> None:
    if not signature:
        raise AccessDenied(f"the {what} is not signed")
    if not is_low_s(signature):
        raise AccessDenied(
            f"the creator's signature over the {what} is malformed or high-S "
            "(Fabric accepts only low-S ECDSA signatures)"
        )
    try:
        public_key.verify(signature, message, _ECDSA_SHA256)
    except InvalidSignature as exc:
        raise AccessDenied(
            f"the creator's signature over the {what} is not valid: it does not verify "
            "against the creator certificate"
        ) from exc
