"""What a multi-lender query server commits to the ledger per metering period: counts per member
and the Merkle root of its query log, signed by the server's node (node/query/authorize.py makes
it; the contract checks and keeps it). Never an applicant id, a consent document or a local path:
the log's leaves hold only salted commitments (node/query/consent.py). Pure."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from alliance.canonical import canonical_json, is_digest
from alliance.models import Record

MAX_MEMBERS = 1000


class SummarySubmission(BaseModel):
    """Body of CommitQuerySummary: `PeriodSummary.body()` plus the server's signature."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    server: str
    period_start: int = Field(ge=0)
    period_end: int = Field(ge=1)
    counts: dict[str, int] = Field(max_length=MAX_MEMBERS)
    purposes: dict[str, int] = Field(max_length=MAX_MEMBERS)
    """Entries per purpose code."""
    merkle_root: str
    entries: int = Field(ge=0)
    signature: str = Field(min_length=1, max_length=200)
    """base64 ECDSA signature of sha256(canonical_json(body())) by the server's node key."""

    @field_validator("merkle_root")
    @classmethod
    def _root(cls, root: str) -> str:
        if not is_digest(root):
            raise ValueError("merkle_root must be 'sha256:<64 hex>'")
        return root

    def body(self) -> dict[str, object]:
        return {"server": self.server, "period_start": self.period_start,
                "period_end": self.period_end, "counts": dict(sorted(self.counts.items())),
                "purposes": dict(sorted(self.purposes.items())),
                "merkle_root": self.merkle_root, "entries": self.entries}

    def signed_bytes(self) -> bytes:
        return canonical_json(self.body())


class QuerySummary(Record):
    """A committed period summary of one server of one multilender job."""

    job_id: str
    server: str
    period_start: int
    period_end: int
    counts: dict[str, int]
    purposes: dict[str, int]
    merkle_root: str
    entries: int
    signature: str
    signer: str
    """Fingerprint of the node certificate that signed the summary and the transaction."""
    tx_id: str
    at: int
