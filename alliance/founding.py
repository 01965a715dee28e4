"""The founding charter pinned by its founders: every founding org's admin signs the charter's
hash, and InitCharter takes the charter only with all of those signatures.

`alliance network init` names each founding org's admin certificate in the charter (`founders`:
org -> certificate fingerprint), has each admin sign sha256(canonical charter JSON) with its own
key, and writes the signatures to `charter.sig.json` beside `charter.json`. Whoever submits
InitCharter sends both as one `SignedCharter`; the contract checks each signature against the
certificate the charter names (and that the submitter's own certificate is its org's named one,
which the ledger's MSP has validated). A charter changed after signing, or missing a founder's
signature, is refused.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from alliance.canonical import canonical_json, loads
from alliance.charter import Charter
from alliance.errors import CharterError, EncodingError, IdentityError, SignatureError
from alliance.identity import Identity
from alliance.signing import Signer, verify

SIGNATURES_FILE = "charter.sig.json"


class FounderSignature(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    certificate: str
    """PEM of the admin certificate that signed (its fingerprint is named in the charter)."""
    signature: str
    """Base64 DER ECDSA signature over sha256(canonical charter JSON)."""


class SignedCharter(BaseModel):
    """Body of InitCharter: the founding charter and every founder's signature over its hash."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    charter: dict
    signatures: dict[str, FounderSignature]
    """By org."""

    def to_json(self) -> bytes:
        return canonical_json(self.model_dump(mode="json"))

    @classmethod
    def from_json(cls, data: bytes | str) -> SignedCharter:
        expected = (
            "InitCharter takes the founding charter with its founders' signatures "
            '({"charter": {...}, "signatures": {org: {"certificate", "signature"}}}), as '
            f"`alliance network up` sends NET/charter.json with NET/{SIGNATURES_FILE}"
        )
        try:
            raw = loads(data)
        except EncodingError as exc:
            raise CharterError(f"{expected}; this is not JSON ({exc})") from None
        if isinstance(raw, dict) and "members" in raw:
            raise CharterError(f"{expected}; this is a bare charter, signed by nobody")
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}"
                for e in exc.errors(include_url=False)
            )
            raise CharterError(f"{expected}; {problems}") from None


def charter_digest(charter: Charter) -> bytes:
    """What each founder signs: SHA-256 of the charter's canonical JSON."""
    return hashlib.sha256(charter.to_json()).digest()


def sign_charter(charter: Charter, signers: Mapping[str, tuple[Identity, Signer]]) -> SignedCharter:
    """Every founder's signature over `charter` (which must name their certificates)."""
    digest = charter_digest(charter)
    signatures = {}
    for org, (identity, signer) in sorted(signers.items()):
        if charter.founders.get(org) != identity.fingerprint:
            raise CharterError(f"the charter does not name {org}'s admin certificate as a founder")
        signatures[org] = FounderSignature(
            certificate=identity.certificate.decode(),
            signature=base64.b64encode(signer.sign(digest)).decode(),
        )
    return SignedCharter(charter=charter.model_dump(mode="json"), signatures=signatures)


def verified_charter(signed: SignedCharter) -> Charter:
    """The charter, once every founding org's named admin certificate has signed it; CharterError
    listing every problem otherwise."""
    try:
        charter = Charter.model_validate(signed.charter)
    except ValidationError as exc:
        raise CharterError(f"invalid charter: {exc}") from None
    problems = []
    unnamed = sorted(set(charter.members) - set(charter.founders))
    if unnamed:
        problems.append(
            f"the charter names no founding admin certificate for {', '.join(unnamed)}"
        )
    strangers = sorted(set(charter.founders) - set(charter.members))
    if strangers:
        problems.append(f"founders {', '.join(strangers)} are not members of the charter")
    digest_message = charter.to_json()
    for org in sorted(charter.founders):
        entry = signed.signatures.get(org)
        if entry is None:
            problems.append(f"{org}'s founding admin has not signed the charter")
            continue
        try:
            identity = Identity(msp_id=charter.members[org].msp_id if org in charter.members
                                else "", certificate=entry.certificate.encode())
            fingerprint = identity.fingerprint
        except IdentityError as exc:
            problems.append(f"{org}'s signature comes with no usable certificate: {exc}")
            continue
        if fingerprint != charter.founders[org]:
            problems.append(
                f"{org}'s signature is by certificate {fingerprint}, not the founding admin "
                f"certificate the charter names ({charter.founders[org]})"
            )
            continue
        if identity.role != "admin":
            problems.append(f"{org}'s founding certificate is a {identity.role} certificate, "
                            "not an admin one")
            continue
        try:
            verify(identity.public_key, digest_message, base64.b64decode(entry.signature))
        except (SignatureError, ValueError):
            problems.append(
                f"{org}'s signature does not verify over this charter: the charter was changed "
                "after signing, or the signature is not theirs"
            )
    extra = sorted(set(signed.signatures) - set(charter.founders))
    if extra:
        problems.append(f"signatures from {', '.join(extra)}, who are not founders")
    if problems:
        raise CharterError("the founding charter is not signed by every founder: "
                           + "; ".join(problems))
    return charter


def save_signatures(net_dir: Path, signed: SignedCharter) -> None:
    data = {org: sig.model_dump() for org, sig in signed.signatures.items()}
    (Path(net_dir) / SIGNATURES_FILE).write_bytes(canonical_json(data))


def load_signed_charter(net_dir: Path) -> SignedCharter:
    """NET/charter.json with NET/charter.sig.json, as InitCharter takes them."""
    net_dir = Path(net_dir)
    charter = Charter.load(net_dir / "charter.json")
    path = net_dir / SIGNATURES_FILE
    if not path.exists():
        raise CharterError(
            f"no founders' signatures at {path}; the founding charter must be signed by every "
            "founding admin (`alliance network init` writes them)"
        )
    try:
        raw = loads(path.read_bytes())
        signatures = {org: FounderSignature.model_validate(v) for org, v in raw.items()}
    except (ValidationError, ValueError, AttributeError, EncodingError) as exc:
        raise CharterError(f"{path} is not a founders' signature file: {exc}") from None
    return SignedCharter(charter=charter.model_dump(mode="json"), signatures=signatures)
