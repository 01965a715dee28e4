"""Consent commitments: what a query carries instead of the consent document's hash.

The plain hash of an applicant's consent document is the same on every lookup of that applicant,
so a server logging it could link repeat lookups of one applicant (and so could anyone reading a
log). A query carries instead a salted commitment per server,

    c = sha256("alliance-consent-v1" | nonce | sha256(document))      nonce: 32 fresh random bytes

fresh for every lookup and every server: what the servers see and log is unlinkable across
lookups (uniform without the nonce), and never names the applicant. The asker keeps the nonce
and the document (`LookupRecord`, in its node folder); an audit opens the commitment — shows the
document and the nonce, recomputes c — and proves with the server's Merkle path that the logged
entry holding c is in the root the server committed to the ledger. Pure.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from dataclasses import asdict, dataclass, field
from typing import Any

from node.query.authorize import LogEntry

DOMAIN = b"alliance-consent-v1"
NONCE_BYTES = 32


def document_digest(document: bytes) -> str:
    return "sha256:" + hashlib.sha256(document).hexdigest()


def new_nonce() -> bytes:
    return os.urandom(NONCE_BYTES)


def commit(nonce: bytes, document: bytes) -> str:
    """The commitment a query carries for `document` under `nonce`."""
    if len(nonce) != NONCE_BYTES:
        raise ValueError(f"a consent nonce is {NONCE_BYTES} bytes")
    inner = hashlib.sha256(document).digest()
    return "sha256:" + hashlib.sha256(DOMAIN + nonce + inner).hexdigest()


def opens(commitment: str, nonce: bytes, document: bytes) -> bool:
    """True when (nonce, document) open `commitment`."""
    try:
        return hmac.compare_digest(commit(nonce, document), commitment)
    except ValueError:
        return False


@dataclass
class ServerPart:
    """What the asker keeps of one server's side of a lookup: its nonce and the log entry the
    server wrote (as the server reported it: seq and time)."""

    server: str
    nonce: str
    """hex"""
    commitment: str
    seq: int = 0
    at: int = 0
    request: str = ""
    """sha256 digest of the signed request (the log entry's `request`)."""
    job: str = ""
    """The service job the server logged the lookup under, whose summaries hold it ("": the
    record's own job; the two differ when the servers read a newer job after the asker)."""

    def entry(self, asker: str, purpose: str) -> LogEntry:
        return LogEntry(self.seq, self.at, asker, purpose, self.commitment, self.request)


@dataclass
class LookupRecord:
    """The asker's kept record of one lookup: enough to prove later that it was made with the
    applicant's consent (with the consent document itself, which the asker also keeps)."""

    job_id: str
    asker: str
    purpose: str
    consent_digest: str
    """sha256 of the consent document (to find the document again; not sent to any server)."""
    parts: list[ServerPart] = field(default_factory=list)
    failed: str = ""
    """Why a lookup never answered failed (its refusal's code, or the error's kind), once
    known; "" for an answered one, or one whose outcome was never written (a crash)."""

    @property
    def answered(self) -> bool:
        """Both servers answered (their log entries kept); else it is the record written before
        sending, which keeps the nonces of commitments a server may have logged."""
        return bool(self.parts) and all(part.request for part in self.parts)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> LookupRecord:
        data: dict[str, Any] = json.loads(text)
        parts = [ServerPart(**p) for p in data.pop("parts", [])]
        return cls(**data, parts=parts)
