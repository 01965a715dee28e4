"""Who may query, and what a server commits per period: the hooks the ledger governance plugs into.

A query server calls its `Authorizer` once per query, after checking the asker's signature and
before touching the table, and asks it which fields to answer. `PolicyAuthorizer` enforces a
fixed `QueryPolicy` (members, purpose codes, daily quota, consent hash present, fields answered);
the ledger-backed authorizer (the `multilender` standing service job) builds the same
`QueryPolicy` from the committed job and re-reads it when the job changes. Each server produces
a `PeriodSummary` of its query log — per-member counts and the RFC 6962 Merkle root of the log
entries, signed by the server — ready to be committed to the ledger; entries hold the request
digest, the asker, the purpose and the consent hash, never an applicant id (the server never sees
one). Pure.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from alliance.canonical import canonical_json, sha256_digest
from alliance.fingerprint import LEAF_PREFIX, merkle_root
from node.query.errors import QueryRefused
from node.query.record import FIELDS

DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
PURPOSE_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


@dataclass(frozen=True)
class QueryContext:
    """What a server knows about one query when it decides (the applicant is not among it)."""

    asker: str
    purpose: str
    consent_hash: str
    day: int
    request_digest: str
    certificates: tuple[str, ...] = ()
    """sha256 fingerprints of the asker's signing and TLS certificates (revocation checks)."""


class Authorizer(Protocol):
    """Raises QueryRefused (with a stable code) to refuse; `used_today` counts the asker's
    earlier queries on this server on the query's UTC day."""

    def authorize(self, query: QueryContext, used_today: int) -> str:
        """The id of the service job the query is admitted under ("" for a policy that is not
        a ledger job): the server logs it with the query, and meters each job's queries apart."""
        ...

    def is_member(self, org: str) -> bool: ...

    def answered(self, asker: str) -> tuple[str, ...]:
        """The record fields a lookup by `asker` is answered (the server zeroes the others)."""
        ...


@dataclass(frozen=True)
class QueryPolicy:
    """The terms of the standing authorization: members, purposes, quota per member per day."""

    members: frozenset[str]
    purposes: frozenset[str]
    daily_quota: int
    quotas: Mapping[str, int] = field(default_factory=dict)
    fields: tuple[str, ...] = FIELDS
    """The record fields a lookup is answered."""

    def quota_of(self, org: str) -> int:
        return self.quotas.get(org, self.daily_quota)


class PolicyAuthorizer:
    """Enforces a `QueryPolicy`: membership, purpose, consent hash present, quota."""

    def __init__(self, policy: QueryPolicy) -> None:
        self.policy = policy

    def is_member(self, org: str) -> bool:
        return org in self.policy.members

    def answered(self, asker: str) -> tuple[str, ...]:
        return self.policy.fields

    def authorize(self, query: QueryContext, used_today: int) -> str:
        policy = self.policy
        if query.asker not in policy.members:
            raise QueryRefused(
                "not_member",
                f"{query.asker} is not a member of the multilender service (members: "
                f"{', '.join(sorted(policy.members))}); a member admin must add it to the "
                "service job")
        if query.purpose not in policy.purposes:
            raise QueryRefused(
                "bad_purpose",
                f"purpose {query.purpose!r} is not allowed; allowed: "
                f"{', '.join(sorted(policy.purposes))}")
        if not DIGEST_RE.match(query.consent_hash):
            raise QueryRefused(
                "no_consent",
                "the query carries no consent hash (sha256:<64 hex> of the applicant's signed "
                "consent document); pass --consent FILE")
        quota = policy.quota_of(query.asker)
        if used_today >= quota:
            raise QueryRefused(
                "over_quota",
                f"{query.asker} used its {quota} queries for day {query.day} on this server; "
                "try again tomorrow (UTC) or ask the members to raise the quota")
        return ""


@dataclass(frozen=True)
class LogEntry:
    """One answered query as the server logs it."""

    seq: int
    at: int
    asker: str
    purpose: str
    consent_hash: str
    request_digest: str

    def leaf(self) -> bytes:
        body = canonical_json({"seq": self.seq, "at": self.at, "asker": self.asker,
                               "purpose": self.purpose, "consent": self.consent_hash,
                               "request": self.request_digest})
        return hashlib.sha256(LEAF_PREFIX + body).digest()


@dataclass(frozen=True)
class PeriodSummary:
    """A server's account of one period: counts per member and the Merkle root of its log."""

    server: str
    period_start: int
    period_end: int
    counts: Mapping[str, int]
    merkle_root: str
    entries: int
    signature: str = ""
    purposes: Mapping[str, int] = field(default_factory=dict)
    """Entries per purpose code (the contract checks them against the job's purposes)."""

    def body(self) -> dict[str, object]:
        return {"server": self.server, "period_start": self.period_start,
                "period_end": self.period_end, "counts": dict(sorted(self.counts.items())),
                "purposes": dict(sorted(self.purposes.items())),
                "merkle_root": self.merkle_root, "entries": self.entries}

    def signed(self, signature: str) -> PeriodSummary:
        return PeriodSummary(self.server, self.period_start, self.period_end, self.counts,
                             self.merkle_root, self.entries, signature, self.purposes)

    def digest(self) -> str:
        return sha256_digest(canonical_json(self.body()))


def summarize(server: str, start: int, end: int, entries: list[LogEntry]) -> PeriodSummary:
    """The unsigned summary of the log entries with start <= at < end, in log order."""
    inside = sorted((e for e in entries if start <= e.at < end), key=lambda e: e.seq)
    counts: dict[str, int] = {}
    purposes: dict[str, int] = {}
    for entry in inside:
        counts[entry.asker] = counts.get(entry.asker, 0) + 1
        purposes[entry.purpose] = purposes.get(entry.purpose, 0) + 1
    return PeriodSummary(server, start, end, counts, merkle_root([e.leaf() for e in inside]),
                         len(inside), purposes=purposes)
