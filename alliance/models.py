"""The ledger's domain objects: members, proposals, datasets, jobs and receipts.

Two kinds of model live here. *Requests* (`ProposalRequest`, `DatasetSpec`, `JobRequest`,
`ReceiptSubmission`, the filters) are what a client sends as a JSON argument: strict, no extra
fields, no floats. *Records* (`Member`, `Proposal`, `Dataset`, `Job`, ...) are what the contract
stores as canonical JSON and what every query returns; nodes, the CLI and the TUI parse them with
`Job.model_validate_json(payload)` etc.

The job protocols the contract accepts, with their parameters, outputs and shape rules, are in
`alliance.protocols` (one spec per protocol), shared by the contract and the node.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
)

from alliance.canonical import canonical_json, is_digest
from alliance.failures import FailureCode
from alliance.protocols import PROTOCOLS
from alliance.refs import INPUT_REF

COLUMN_TYPES = ("string", "integer", "decimal", "boolean", "date")
DATASET_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
COLUMN_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
TAG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
PARAM_NAME = re.compile(r"^[a-z][a-z0-9_.-]{0,63}$")

MAX_TEXT = 1000
MAX_JOB_SECONDS = 366 * 24 * 3600
MAX_RUNS = 1000


def _strict() -> ConfigDict:
    return ConfigDict(extra="forbid", strict=True, frozen=True)


def _record() -> ConfigDict:
    return ConfigDict(extra="forbid")


def _is_none(value: object) -> bool:
    return value is None


class Record(BaseModel):
    """A ledger object: stored and returned as canonical JSON."""

    model_config = _record()

    def to_json(self) -> bytes:
        return canonical_json(self.model_dump(mode="json"))


# --- enums -------------------------------------------------------------------------------------


class JobState(StrEnum):
    REQUESTED = "REQUESTED"
    APPROVED = "APPROVED"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    DISPUTED = "DISPUTED"
    REJECTED = "REJECTED"
    REVOKED = "REVOKED"
    EXPIRED = "EXPIRED"


class ProposalState(StrEnum):
    PENDING = "PENDING"
    PASSED = "PASSED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"


class MemberStatus(StrEnum):
    ACTIVE = "active"
    REMOVED = "removed"


class DatasetStatus(StrEnum):
    ACTIVE = "active"
    RETIRED = "retired"


VoteChoice = Literal["yes", "no"]
ProposalAction = Literal["join", "remove", "set_roles", "set_query_servers"]
MemberRole = Literal["member", "auditor"]


# --- small shared pieces -----------------------------------------------------------------------


class TxMark(Record):
    """Which transaction did something, and when (tx timestamp, seconds)."""

    tx_id: str
    at: int


class Approval(TxMark):
    by_request: bool = False
    """True for the requester's own inputs, approved by the request itself."""


class Vote(TxMark):
    vote: VoteChoice


class PendingCharter(Record):
    """A founding charter submitted by InitCharter, waiting for every founding org to accept it
    by its own transaction (AcceptCharter); it takes effect only when all have."""

    charter_hash: str
    """`sha256:` of the charter's canonical JSON (what founders sign and accept)."""
    charter: dict
    submitted_by: str
    submitted_tx: str
    accepted: dict[str, TxMark] = {}
    """By founding org: the AcceptCharter (or the submitter's InitCharter) transaction."""

    def awaiting(self) -> list[str]:
        founders = self.charter.get("founders", {})
        return sorted(org for org in founders if org not in self.accepted)


class Reasoned(TxMark):
    org: str
    reason: str


# --- membership --------------------------------------------------------------------------------


class Member(Record):
    org: str
    msp_id: str
    roles: list[MemberRole]
    status: MemberStatus = MemberStatus.ACTIVE
    joined_at: int
    removed_at: int | None = None
    updated_tx: str


class RevokedCertificate(Record):
    fingerprint: str
    org: str
    tx_id: str
    at: int
    effective_at: int | None = Field(default=None, exclude_if=_is_none)
    """When the revocation bites (a rotation's grace period ends); None: at once (`at`)."""
    reason: str | None = Field(default=None, exclude_if=_is_none)
    """RFC 5280 CRLReason name (e.g. superseded, keyCompromise), when given."""
    replaced_by: str | None = Field(default=None, exclude_if=_is_none)
    """Fingerprint of the certificate that replaces this one (a rotation). The three optional
    fields are absent from the record when unset, so older records keep their shape."""

    def in_force(self, now: int) -> bool:
        return now >= (self.at if self.effective_at is None else self.effective_at)


class RevocationOptions(BaseModel):
    """Optional second argument of RevokeCertificate."""

    model_config = _strict()

    grace_seconds: int = Field(default=0, ge=0, le=90 * 24 * 3600)
    reason: str | None = Field(default=None, max_length=40)
    replaced_by: str | None = None


class ProposalRequest(BaseModel):
    """Body of ProposeMember."""

    model_config = _strict()

    action: ProposalAction
    org: str
    msp_id: str | None = None
    roles: tuple[MemberRole, ...] | None = None
    servers: tuple[str, ...] | None = None
    """set_query_servers only: the two query servers, A then B (`org` is A)."""
    reason: str = Field(min_length=1, max_length=MAX_TEXT)


class Proposal(Record):
    id: str
    action: ProposalAction
    org: str
    msp_id: str | None = None
    roles: list[MemberRole] | None = None
    servers: list[str] | None = None
    """set_query_servers only: the two query servers, A then B."""
    reason: str
    proposer: str
    votes: dict[str, Vote]
    state: ProposalState
    created_at: int
    expires_at: int
    decided_at: int | None = None
    decided_tx: str | None = None

    @model_serializer(mode="wrap")
    def _without_servers(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Proposals other than set_query_servers serialise as before the field existed."""
        data: dict[str, Any] = handler(self)
        if data.get("servers") is None:
            data.pop("servers", None)
        return data


# --- datasets ----------------------------------------------------------------------------------


class ColumnSpec(BaseModel):
    model_config = _strict()

    name: str
    type: Literal["string", "integer", "decimal", "boolean", "date"]

    @field_validator("name")
    @classmethod
    def _name(cls, name: str) -> str:
        if not COLUMN_NAME.match(name):
            raise ValueError(
                f"column name {name!r} is not valid: use letters, digits and '_', starting with a "
                "letter or '_' (at most 63 characters)"
            )
        return name


class DerivedFrom(BaseModel):
    """The job output a dataset was made from (a PSI intersection, a WOE-transformed set): the
    lineage link the contract checks (the job's run completed with that output, and the
    registering org was one of its recipients)."""

    model_config = _strict()

    job: str = Field(min_length=1, max_length=100)
    run: int = Field(ge=1)
    output: str = Field(min_length=1, max_length=100)


class DatasetSpec(BaseModel):
    """Body of RegisterDataset and NewDatasetVersion: what the owner declares about its data."""

    model_config = _strict()

    derived_from: DerivedFrom | None = None

    name: str
    schema_: tuple[ColumnSpec, ...] = Field(alias="schema", min_length=1, max_length=1000)
    row_count: int = Field(ge=0)
    fingerprint: str
    description: str = Field(default="", max_length=MAX_TEXT)
    tags: tuple[str, ...] = Field(default=(), max_length=16)

    @field_validator("name")
    @classmethod
    def _name(cls, name: str) -> str:
        return check_dataset_name(name)

    @field_validator("schema_")
    @classmethod
    def _unique_columns(cls, schema: tuple[ColumnSpec, ...]) -> tuple[ColumnSpec, ...]:
        names = [c.name for c in schema]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"column names must be unique; repeated: {', '.join(dupes)}")
        return schema

    @field_validator("fingerprint")
    @classmethod
    def _digest(cls, fingerprint: str) -> str:
        if not is_digest(fingerprint):
            raise ValueError(
                f"fingerprint {fingerprint!r} is not a digest: expected 'sha256:' followed by 64 "
                "lowercase hex digits"
            )
        return fingerprint

    @field_validator("tags")
    @classmethod
    def _tags(cls, tags: tuple[str, ...]) -> tuple[str, ...]:
        for tag in tags:
            if not TAG.match(tag):
                raise ValueError(
                    f"tag {tag!r} is not valid: use 1-32 lowercase letters, digits, '_' or '-'"
                )
        if len(set(tags)) != len(tags):
            raise ValueError("tags must be unique")
        return tuple(sorted(tags))


def check_dataset_name(name: str) -> str:
    if not DATASET_NAME.match(name):
        raise ValueError(
            f"dataset name {name!r} is not valid: use 1-63 lowercase letters, digits, '_' or '-', "
            "starting with a letter (e.g. 'customers')"
        )
    return name


class Dataset(Record):
    id: str
    """`<owner>/<name>`."""
    owner: str
    name: str
    version: int
    schema_: list[ColumnSpec] = Field(alias="schema")
    row_count: int
    fingerprint: str
    description: str
    tags: list[str]
    status: DatasetStatus
    registered_at: int
    updated_at: int
    updated_tx: str
    derived_from: DerivedFrom | None = Field(default=None, exclude_if=_is_none)
    """The job output this version was made from, when it was (absent from the record when
    not, so records of underived data keep their shape)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    def to_json(self) -> bytes:
        return canonical_json(self.model_dump(mode="json", by_alias=True))

    def column(self, name: str) -> ColumnSpec | None:
        return next((c for c in self.schema_ if c.name == name), None)


class DatasetFilter(BaseModel):
    """Body of ListDatasets."""

    model_config = _strict()

    owner: str | None = None
    tag: str | None = None
    include_retired: bool = False


# --- jobs --------------------------------------------------------------------------------------


class JobRequest(BaseModel):
    """Body of RequestJob."""

    model_config = _strict()

    protocol: str
    inputs: tuple[str, ...] = Field(min_length=1, max_length=64)
    parameters: dict[str, str] = Field(default_factory=dict, max_length=64)
    outputs: dict[str, tuple[str, ...]] = Field(min_length=1)
    expires_in_seconds: int = Field(ge=1, le=MAX_JOB_SECONDS)
    max_runs: int = Field(default=1, ge=1, le=MAX_RUNS)
    dealer: str | None = None

    @field_validator("protocol")
    @classmethod
    def _protocol(cls, protocol: str) -> str:
        if protocol not in PROTOCOLS:
            known = ", ".join(sorted(PROTOCOLS))
            raise ValueError(f"unknown protocol {protocol!r}; known protocols: {known}")
        return protocol

    @field_validator("inputs")
    @classmethod
    def _inputs(cls, inputs: tuple[str, ...]) -> tuple[str, ...]:
        for ref in inputs:
            if not INPUT_REF.match(ref):
                raise ValueError(
                    f"input {ref!r} is not valid: write it as 'org/dataset:column' "
                    "(e.g. 'bank/customers:id')"
                )
        if len(set(inputs)) != len(inputs):
            raise ValueError("inputs must be distinct; one column is named twice")
        return inputs

    @field_validator("parameters")
    @classmethod
    def _parameters(cls, parameters: dict[str, str]) -> dict[str, str]:
        for key, value in parameters.items():
            if not PARAM_NAME.match(key):
                raise ValueError(
                    f"parameter name {key!r} is not valid: lowercase letters, digits, '_', '.', '-'"
                )
            if len(value) > MAX_TEXT:
                raise ValueError(f"parameter {key!r} is longer than {MAX_TEXT} characters")
        return parameters

    @field_validator("outputs")
    @classmethod
    def _outputs(cls, outputs: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        for name, recipients in outputs.items():
            if not recipients:
                raise ValueError(f"output {name!r} names no recipient; give at least one org")
            if len(set(recipients)) != len(recipients):
                raise ValueError(f"output {name!r} names a recipient twice")
        return outputs


class JobInput(Record):
    """One input column of a job, pinned to the dataset version the job was requested on."""

    ref: str
    """`org/dataset:column` as requested."""
    owner: str
    dataset: str
    """`org/name` of the dataset."""
    column: str
    version: int
    fingerprint: str
    column_type: str | None = None
    """The column's type in the pinned dataset version (None on jobs recorded before types were
    pinned)."""


class ReceiptSubmission(BaseModel):
    """Body of SubmitReceipt."""

    model_config = _strict()

    run: int = Field(ge=1)
    output_digests: dict[str, str] = Field(default_factory=dict)
    transcript_digest: str
    input_fingerprints: dict[str, str] = Field(default_factory=dict)
    engine_version: str = Field(min_length=1, max_length=200)

    @field_validator("output_digests", "input_fingerprints")
    @classmethod
    def _digests(cls, digests: dict[str, str]) -> dict[str, str]:
        for key, value in digests.items():
            if not is_digest(value):
                raise ValueError(f"{key!r}: {value!r} is not a 'sha256:<64 hex>' digest")
        return digests

    @field_validator("transcript_digest")
    @classmethod
    def _transcript(cls, value: str) -> str:
        if not is_digest(value):
            raise ValueError(f"transcript_digest {value!r} is not a 'sha256:<64 hex>' digest")
        return value


class Receipt(Record):
    run: int
    org: str
    output_digests: dict[str, str]
    transcript_digest: str
    input_fingerprints: dict[str, str]
    engine_version: str
    signer: str
    """Fingerprint of the certificate that submitted the receipt."""
    tx_id: str
    at: int


class RunResult(Record):
    """How one run ended: COMPLETED with the agreed output digests, or DISPUTED with reasons."""

    run: int
    state: JobState
    output_digests: dict[str, str]
    disputes: list[str]
    tx_id: str
    at: int


class Failure(TxMark):
    """One party's failure of a run, as published: a code, the rendered fixed-template message
    (`reason`) and the checked references (alliance/failures.py). Never free text."""

    reason: str
    run: int
    code: FailureCode | None = None
    """None only on failures recorded before reasons were coded."""
    input: str | None = None
    row: int | None = None
    peer: str | None = None


class Job(Record):
    id: str
    protocol: str
    requester: str
    inputs: list[JobInput]
    parameters: dict[str, str]
    outputs: dict[str, list[str]]
    dealer: str | None
    participants: list[str]
    """Input owners, output recipients and the dealer, sorted."""
    required_approvers: list[str]
    """Input owners and the dealer, minus the requester."""
    approvals: dict[str, Approval]
    votes_needed: int
    """Member yes votes needed (0 unless the protocol is in the charter's voted_protocols)."""
    votes: dict[str, Vote]
    rejection: Reasoned | None = None
    revocation: Reasoned | None = None
    state: JobState
    created_at: int
    created_tx: str
    expires_at: int
    max_runs: int
    runs_used: int
    current_run: int
    """The run being (or last) executed; 0 before the first claim."""
    run_deadline: int = 0
    """When the current run must have ended (tx time, seconds; see alliance/run_deadline.py);
    after it any participant may expire the run (ExpireRun). 0 before the first claim."""
    claims: dict[str, TxMark]
    """Claims of the current run, by org."""
    receipts: dict[str, dict[str, Receipt]]
    """Receipts by run number (as a string), then by org."""
    results: dict[str, RunResult]
    """Outcome by run number (as a string)."""
    failures: dict[str, Failure]
    """Failure reasons by org."""
    updated_at: int
    updated_tx: str

    def datasets(self) -> list[str]:
        return sorted({i.dataset for i in self.inputs})

    def input_owners(self) -> list[str]:
        return sorted({i.owner for i in self.inputs})

    def recipients_of(self, org: str) -> list[str]:
        return sorted(name for name, orgs in self.outputs.items() if org in orgs)


class JobFilter(BaseModel):
    """Body of ListJobs."""

    model_config = _strict()

    state: JobState | None = None
    participant: str | None = None
