"""The `multilender` protocol's schema: a *standing* service job, the ledger's authorization of
the real-time multi-lender query (node/query/).

Inputs: each contributing member's loan book (one column of applicant ids per member); every
input owner approves the job (the usual approval of data owners). Output `aggregates` names the
members that may ask, all of them contributors (no lookups without contributing) and neither
server's member: a server holds the masked table D whole, and an asker learns the masks at the
slots it reads, so a server's member asking would read every member's record of the applicant
one by one (node/query/README.md, "Who may ask"). Parameters:
the two servers (they must be the charter's `query_servers`, checked by the contract), the fields
answered, the purpose codes allowed, the daily quota per member (and overrides per member), the
metering period of the servers' signed summaries and the table size (`capacity`: applicants
per member, each segment sized for it; or `part_bits`, a power of two). A standing job never runs:
it stays APPROVED until it expires or is revoked, and the servers enforce it on every query.
Pure: `ServiceTerms.from_job` reads a job record as a plain mapping.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import Field, field_validator, model_validator

from alliance.protocols.spec import InputRule, JobShape, Params, ProtocolSpec

NAME = "multilender"
OUTPUT = "aggregates"
FIELDS = ("active_loans", "distinct_lenders", "outstanding_cents", "applications_7d",
          "applications_30d")
"""What a lookup can answer (node/query/record.py's FIELDS, the same names)."""
PURPOSE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
ORG = re.compile(r"^[a-z][a-z0-9-]{1,30}$")
MAX_QUOTA = 10_000_000
MIN_PERIOD, MAX_PERIOD = 60, 86_400
DEFAULT_PART_BITS = 14
MAX_CAPACITY = 10_000_000
"""Applicants per member the largest table (parts of 2^22 slots at a load of 0.8) holds."""
EPOCH_SECONDS = 30.0
"""How often the servers form a new table by default (ALLIANCE_QUERY_EPOCH_SECONDS overrides):
a contribution reaches lookups with the next one."""
SERVICE_PROTOCOLS = frozenset({NAME})
"""Protocols whose jobs are standing authorizations: never claimed, never run by a node."""


def _csv(value: object) -> object:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


class MultilenderParams(Params):
    """Parameters of a multilender service job."""

    server_a: str = Field(description="the member running query server A (the charter's first)")
    server_b: str = Field(description="the member running query server B (the charter's second)")
    purposes: tuple[str, ...] = Field(
        description="comma-separated purpose codes a query may carry, e.g. "
                    "credit_check,limit_review")
    daily_quota: int = Field(ge=1, le=MAX_QUOTA,
                             description="lookups per member per UTC day, on each server")
    quotas: tuple[str, ...] | None = Field(
        default=None, description="per-member overrides of daily_quota, comma-separated ORG=N, "
                                  "e.g. platform=50")
    fields: tuple[str, ...] | None = Field(
        default=None, description=f"comma-separated fields answered (default all: "
                                  f"{','.join(FIELDS)})")
    period_seconds: int = Field(
        default=3600, ge=MIN_PERIOD, le=MAX_PERIOD,
        description="metering period: each server commits a signed summary of its query log "
                    "per period (a divisor of 86400)")
    part_bits: int | None = Field(
        default=None, ge=10, le=22,
        description=f"log2 of the slots of each of the 3 parts of a contributor's segment of "
                    f"the table (default {DEFAULT_PART_BITS}: a member places up to 39,321 "
                    f"applicants); or give capacity")
    capacity: int | None = Field(
        default=None, ge=1, le=MAX_CAPACITY,
        description="applicants one contributing member can place: the servers size the "
                    "table for it (the fewest 1,024-slot blocks at a load of 0.8, not the next "
                    "power of two); instead of part_bits")

    @field_validator("purposes", "quotas", "fields", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        return _csv(value)

    @field_validator("purposes")
    @classmethod
    def _purposes(cls, purposes: tuple[str, ...]) -> tuple[str, ...]:
        bad = [p for p in purposes if not PURPOSE.match(p)]
        if bad or not purposes:
            raise ValueError(
                f"{bad[0] if bad else 'nothing'!r} is not a purpose code: name at least one, "
                "each lowercase letters, digits and '_' (e.g. credit_check)")
        return tuple(sorted(set(purposes)))

    @field_validator("fields")
    @classmethod
    def _fields(cls, fields: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if fields is None:
            return None
        bad = [f for f in fields if f not in FIELDS]
        if bad or not fields:
            raise ValueError(f"{bad[0] if bad else 'nothing'!r} is not a field; use some of "
                             f"{','.join(FIELDS)}")
        return tuple(f for f in FIELDS if f in fields)

    @field_validator("quotas")
    @classmethod
    def _quotas(cls, quotas: tuple[str, ...] | None) -> tuple[str, ...] | None:
        for item in quotas or ():
            org, _, number = item.partition("=")
            if not ORG.match(org) or not number.isdigit() or not 0 <= int(number) <= MAX_QUOTA:
                raise ValueError(f"{item!r} is not ORG=N (N in 0..{MAX_QUOTA}), e.g. platform=50")
        return tuple(sorted(quotas)) if quotas is not None else None

    @model_validator(mode="after")
    def _one_size(self) -> MultilenderParams:
        if self.part_bits is not None and self.capacity is not None:
            raise ValueError("give the table's size once: capacity (applicants per member) or "
                             "part_bits, not both")
        return self

    @model_validator(mode="after")
    def _distinct_servers(self) -> MultilenderParams:
        if self.server_a == self.server_b:
            raise ValueError("server_a and server_b must be two different members (their "
                             "non-collusion is the service's trust assumption)")
        if MAX_PERIOD % self.period_seconds:
            raise ValueError(f"period_seconds={self.period_seconds} does not divide a day "
                             "(86400); use e.g. 60, 300, 900, 3600")
        return self

    def quota_map(self) -> dict[str, int]:
        return {org: int(n) for org, _, n in (q.partition("=") for q in self.quotas or ())}

    def answered(self) -> tuple[str, ...]:
        return self.fields or FIELDS


def _joint(params: Any, shape: JobShape) -> list[str]:
    problems = []
    members = set(shape.outputs.get(OUTPUT, ()))
    strangers = sorted(set(params.quota_map()) - members)
    if strangers:
        problems.append(f"quotas name {', '.join(strangers)}, which may not ask (the recipients "
                        f"of {OUTPUT} are {', '.join(sorted(members))})")
    if not members:
        problems.append(f"name the members that may ask as the recipients of {OUTPUT}")
    servers = sorted(members & {params.server_a, params.server_b})
    if servers:
        problems.append(
            f"{' and '.join(servers)} {'run' if len(servers) > 1 else 'runs'} a query server "
            f"and may not ask (a server holds the masked table, and the masks an answer gives "
            f"its asker would show it each member's record); leave {', '.join(servers)} out "
            f"of the recipients of {OUTPUT}")
    return problems


MULTILENDER = ProtocolSpec(
    name=NAME,
    summary="standing authorization of the real-time multi-lender query: servers, members, "
            "purposes, daily quotas",
    params=MultilenderParams,
    outputs={OUTPUT: "lookups: aggregates over the other contributing members, per applicant"},
    inputs=InputRule(min_inputs=1, column_types=("string", "integer"),
                     summary="each contributing member's applicant-id column (one per member)"),
    recipients_own_inputs=True,
    job_problems=_joint,
)


@dataclass(frozen=True)
class ServiceTerms:
    """What a multilender job authorizes, as servers and clients use it."""

    job_id: str
    servers: tuple[str, str]
    members: frozenset[str]
    """Who may ask (the recipients of `aggregates`)."""
    contributors: frozenset[str]
    """Whose contributions the servers take (the input owners)."""
    purposes: frozenset[str]
    daily_quota: int
    quotas: Mapping[str, int]
    fields: tuple[str, ...]
    period_seconds: int
    part_bits: int | None
    """The table's parts are 2^part_bits slots (None when the job gives `capacity`)."""
    expires_at: int
    capacity: int | None = None
    """Applicants per member the table is sized for (node/query/layout.py), or None."""

    def quota_of(self, org: str) -> int:
        return self.quotas.get(org, self.daily_quota)

    @classmethod
    def from_job(cls, job: Mapping[str, Any]) -> ServiceTerms:
        """From a job record (its JSON form or `Job.model_dump()`)."""
        params = MultilenderParams.model_validate(dict(job["parameters"]))
        return cls(
            job_id=str(job["id"]),
            servers=(params.server_a, params.server_b),
            members=frozenset(job["outputs"].get(OUTPUT, ())),
            contributors=frozenset(i["owner"] for i in job["inputs"]),
            purposes=frozenset(params.purposes),
            daily_quota=params.daily_quota,
            quotas=params.quota_map(),
            fields=params.answered(),
            period_seconds=params.period_seconds,
            part_bits=None if params.capacity else params.part_bits or DEFAULT_PART_BITS,
            expires_at=int(job["expires_at"]),
            capacity=params.capacity,
        )
