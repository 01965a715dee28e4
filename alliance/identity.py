"""Who someone is on the ledger: an MSP id and an X.509 certificate, apart from any key.

Roles come from the certificate's NodeOU (`OU=admin|client|peer|orderer`), as in Fabric.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from alliance.errors import IdentityError

NODE_OUS = ("admin", "client", "peer", "orderer", "member")


def load_certificate(pem: bytes) -> x509.Certificate:
    """Parse a PEM certificate or raise IdentityError saying why it is unusable."""
    try:
        return x509.load_pem_x509_certificate(pem)
    except (ValueError, TypeError) as exc:
        raise IdentityError(f"not a PEM X.509 certificate: {exc}") from exc


@dataclass(frozen=True)
class Identity:
    """An MSP id and the PEM certificate that member presents; carries no private key."""

    msp_id: str
    certificate: bytes

    @cached_property
    def cert(self) -> x509.Certificate:
        return load_certificate(self.certificate)

    @property
    def common_name(self) -> str:
        attrs = self.cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        return str(attrs[0].value) if attrs else ""

    @property
    def organizational_units(self) -> tuple[str, ...]:
        attrs = self.cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)
        return tuple(str(a.value) for a in attrs)

    @cached_property
    def role(self) -> str:
        """The NodeOU role (`admin`, `client`, `peer`, `orderer`), or `member` when none."""
        for ou in self.organizational_units:
            if ou.lower() in NODE_OUS:
                return ou.lower()
        return "member"

    @cached_property
    def fingerprint(self) -> str:
        """`sha256:<hex>` of the DER certificate: the id by which the ledger names this cert."""
        from cryptography.hazmat.primitives.serialization import Encoding

        return "sha256:" + hashlib.sha256(self.cert.public_bytes(Encoding.DER)).hexdigest()

    @property
    def serial(self) -> str:
        return format(self.cert.serial_number, "x")

    @property
    def public_key(self) -> ec.EllipticCurvePublicKey:
        key = self.cert.public_key()
        if not isinstance(key, ec.EllipticCurvePublicKey):
            raise IdentityError(f"certificate of {self.common_name!r} does not hold an EC key")
        return key

    def valid_at(self, when: datetime | None = None) -> bool:
        """True when `when` (default: now) falls inside the certificate's validity period."""
        when = when or datetime.now(UTC)
        return self.cert.not_valid_before_utc <= when <= self.cert.not_valid_after_utc
