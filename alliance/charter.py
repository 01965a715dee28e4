"""The alliance charter: founding members, their roles, and the voting rules.

Written by `alliance network init` as `charter.json`, put on the ledger once by `InitCharter`,
changed afterwards only by passed proposals. Percentages are integers (no floats on the ledger).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)

from alliance.canonical import canonical_json, loads
from alliance.errors import CharterError

ORG_NAME = re.compile(r"^[a-z][a-z0-9-]{1,30}$")
Role = Literal["member", "auditor"]


def msp_id_for(org: str) -> str:
    """The MSP id `alliance network init` gives an org: `bank` -> `BankMSP`."""
    return "".join(part.capitalize() for part in org.split("-")) + "MSP"


def check_org_name(org: str) -> str:
    if not ORG_NAME.match(org):
        raise CharterError(
            f"org name {org!r} is not valid: use 2-31 lowercase letters, digits or '-', "
            "starting with a letter (e.g. 'bank', 'telecom-a')"
        )
    return org


def query_server_problem(servers: tuple[str, ...], voters: list[str]) -> str:
    """Why `servers` cannot run the query service (empty when they can): none, or two distinct
    members with the `member` role. Pure."""
    if not servers:
        return ""
    if len(servers) != 2 or servers[0] == servers[1]:
        return (f"the query servers must be two distinct members, not {', '.join(servers)}: "
                "their non-collusion is the service's trust assumption")
    strangers = [org for org in servers if org not in voters]
    if strangers:
        return (f"query server {', '.join(strangers)} is not a voting member of the charter "
                f"(members: {', '.join(voters)})")
    return ""


class MemberEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    msp_id: str
    roles: tuple[Role, ...] = ("member",)


class Charter(BaseModel):
    """Who belongs, in which role, and what it takes to change that. Immutable: a change is a new
    charter (the contract shares parsed charters between transactions)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "alliance"
    version: int = 1
    members: dict[str, MemberEntry]
    membership_threshold_pct: int = Field(default=66, ge=1, le=100)
    """Share of voting members (role `member`) whose yes votes pass a membership proposal."""
    proposal_ttl_seconds: int = Field(default=7 * 24 * 3600, ge=60)
    voted_protocols: tuple[str, ...] = ()
    """Protocols whose jobs also need a member vote at the membership threshold."""
    query_servers: tuple[str, ...] = ()
    """The two members that run the multi-lender query servers (A first, then B), or none.
    Their non-collusion is the service's trust assumption, so they change only by a passed
    `set_query_servers` proposal (the usual vote)."""
    founders: dict[str, str] = Field(default_factory=dict)
    """Founding org -> fingerprint of the admin certificate that signed the founding charter
    (alliance/founding.py); InitCharter requires every one of their signatures."""

    @field_validator("members")
    @classmethod
    def _names(cls, members: dict[str, MemberEntry]) -> dict[str, MemberEntry]:
        for org in members:
            check_org_name(org)
        return members

    @model_validator(mode="after")
    def _one_voter(self) -> Charter:
        if not self.voters():
            raise CharterError("a charter needs at least one member with the 'member' role")
        return self

    @model_validator(mode="after")
    def _query_servers(self) -> Charter:
        problem = query_server_problem(self.query_servers, self.voters())
        if problem:
            raise CharterError(problem)
        return self

    @model_serializer(mode="wrap")
    def _without_empty_servers(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """A charter naming no query servers serialises as before the field existed (the
        founding signatures of older networks stay valid)."""
        data: dict[str, Any] = handler(self)
        if not data.get("query_servers"):
            data.pop("query_servers", None)
        return data

    def voters(self) -> list[str]:
        return sorted(org for org, m in self.members.items() if "member" in m.roles)

    def auditors(self) -> list[str]:
        return sorted(org for org, m in self.members.items() if "auditor" in m.roles)

    def org_of_msp(self, msp_id: str) -> str | None:
        for org, entry in self.members.items():
            if entry.msp_id == msp_id:
                return org
        return None

    def votes_needed(self) -> int:
        """Yes votes that pass a proposal: ceil(threshold% of voting members)."""
        return -(-len(self.voters()) * self.membership_threshold_pct // 100)

    def to_json(self) -> bytes:
        return canonical_json(self.model_dump(mode="json"))

    @classmethod
    def from_json(cls, data: bytes | str) -> Charter:
        try:
            return cls.model_validate(loads(data))
        except ValidationError as exc:
            raise CharterError(f"invalid charter: {exc}") from exc

    @classmethod
    def founding(cls, members: list[str], auditors: list[str], name: str = "alliance") -> Charter:
        entries = {org: MemberEntry(msp_id=msp_id_for(org), roles=("member",)) for org in members}
        for org in auditors:
            if org in entries:
                raise CharterError(f"{org!r} is listed both as member and as auditor; pick one")
            entries[org] = MemberEntry(msp_id=msp_id_for(org), roles=("auditor",))
        return cls(name=name, members={check_org_name(o): e for o, e in entries.items()})

    def save(self, path: Path) -> None:
        path.write_bytes(self.to_json())

    @classmethod
    def load(cls, path: Path) -> Charter:
        if not path.exists():
            raise CharterError(f"no charter at {path}; run `alliance network init` first")
        return cls.from_json(path.read_bytes())
