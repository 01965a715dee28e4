"""Fixed records (ids, times, digests) answered without a ledger, for the TUI's fast unit tests
(palette, help, table filter, node rows): `SeededSession` answers the TUI's reads from them;
everything else (screens, widgets, formatting) is the real code.

The screens' snapshots run on a real seeded ledger instead (tests/integration/tui_ledger.py,
test_tui_snapshots.py), and the Pilot tests in tests/integration/test_tui.py drive every flow
against a real devnet and member nodes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alliance.app.jobs import HistoryEntry
from alliance.app.results import DeliveredOutput
from alliance.models import (
    Approval,
    ColumnSpec,
    Dataset,
    Failure,
    Job,
    JobInput,
    Member,
    Proposal,
    Reasoned,
    Receipt,
    RunResult,
    TxMark,
    Vote,
)
from tui.backend import CertificateInfo, Session

NOW = 1_796_130_000
"""The pinned "now" of every snapshot (2026-12-01 13:40 UTC)."""


def tx(n: int) -> str:
    return f"{n:02x}" * 32


def digest(n: int) -> str:
    return "sha256:" + f"{n:x}".rjust(2, "0") * 32


MEMBERS = [
    Member(org=o, msp_id=m, roles=r, joined_at=NOW - 86400 * 30, updated_tx=tx(i))
    for i, (o, m, r) in enumerate(
        [
            ("bank", "BankMSP", ["member"]),
            ("platform", "PlatformMSP", ["member"]),
            ("regulator", "RegulatorMSP", ["auditor"]),
            ("telecom", "TelecomMSP", ["member"]),
        ],
        start=1,
    )
]

PROPOSALS = [
    Proposal(
        id="prop-5be1c0a9e3f04d21",
        action="join",
        org="fintech",
        msp_id="FintechMSP",
        roles=["member"],
        reason="a fintech asks to join the alliance",
        proposer="telecom",
        votes={"telecom": Vote(vote="yes", tx_id=tx(20), at=NOW - 3600)},
        state="PENDING",
        created_at=NOW - 3600,
        expires_at=NOW + 6 * 86400,
    ),
    Proposal(
        id="prop-0c6d2e8f9a1b3c4d",
        action="set_roles",
        org="platform",
        roles=["member", "auditor"],
        reason="platform audits too",
        proposer="bank",
        votes={
            "bank": Vote(vote="yes", tx_id=tx(21), at=NOW - 86400 * 3),
            "telecom": Vote(vote="yes", tx_id=tx(22), at=NOW - 86400 * 2),
        },
        state="PASSED",
        created_at=NOW - 86400 * 3,
        expires_at=NOW + 86400 * 4,
        decided_at=NOW - 86400 * 2,
        decided_tx=tx(22),
    ),
]


def _dataset(owner: str, name: str, cols: list[tuple[str, str]], rows: int, n: int,
             version: int = 1, status: str = "active", tags: list[str] | None = None) -> Dataset:
    return Dataset(
        id=f"{owner}/{name}",
        owner=owner,
        name=name,
        version=version,
        schema=[ColumnSpec(name=c, type=t) for c, t in cols],  # type: ignore[arg-type]
        row_count=rows,
        fingerprint=digest(n),
        description=f"{name} of {owner}",
        tags=tags or [],
        status=status,  # type: ignore[arg-type]
        registered_at=NOW - 86400 * 20,
        updated_at=NOW - 86400 * (20 - version),
        updated_tx=tx(30 + n),
    )


DATASETS = [
    _dataset("bank", "customers", [("customer_id", "string"), ("exposure", "integer")], 240_000,
             1, version=2, tags=["kyc"]),
    _dataset("platform", "users", [("customer_id", "string"), ("spend", "decimal")], 220_000, 2),
    _dataset("telecom", "subscribers", [("customer_id", "string"), ("balance", "integer")],
             260_000, 3),
    _dataset("telecom", "legacy", [("msisdn", "string")], 1_000, 4, status="retired"),
]


def _input(d: Dataset, column: str) -> JobInput:
    return JobInput(ref=f"{d.id}:{column}", owner=d.owner, dataset=d.id, column=column,
                    version=d.version, fingerprint=d.fingerprint)


def _job(n: int, state: str, **extra: Any) -> Job:
    base: dict[str, Any] = {
        "id": f"job-{n:016x}",
        "protocol": "stats",
        "requester": "telecom",
        "inputs": [_input(DATASETS[0], "exposure"), _input(DATASETS[2], "balance")],
        "parameters": {"op": "sum"},
        "outputs": {"result": ["telecom"]},
        "dealer": None,
        "participants": ["bank", "telecom"],
        "required_approvers": ["bank"],
        "approvals": {},
        "votes_needed": 0,
        "votes": {},
        "state": state,
        "created_at": NOW - 600 * n,
        "created_tx": tx(40 + n),
        "expires_at": NOW + 86400 - 600 * n,
        "max_runs": 1,
        "runs_used": 0,
        "current_run": 0,
        "claims": {},
        "receipts": {},
        "results": {},
        "failures": {},
        "updated_at": NOW - 300 * n,
        "updated_tx": tx(50 + n),
    }
    base.update(extra)
    return Job.model_validate(base)


def _receipt(org: str, n: int) -> Receipt:
    return Receipt(run=1, org=org, output_digests={"result": digest(9)} if org == "telecom"
                   else {}, transcript_digest=digest(8), input_fingerprints={},
                   engine_version="alliance-mpc 0.1", signer=digest(70 + n), tx_id=tx(70 + n),
                   at=NOW - 200)


JOBS = [
    _job(1, "REQUESTED"),
    _job(
        2, "COMPLETED",
        approvals={"bank": Approval(tx_id=tx(61), at=NOW - 1100)},
        runs_used=1, current_run=1,
        claims={"bank": TxMark(tx_id=tx(62), at=NOW - 1000),
                "telecom": TxMark(tx_id=tx(63), at=NOW - 1000)},
        receipts={"1": {"bank": _receipt("bank", 1), "telecom": _receipt("telecom", 2)}},
        results={"1": RunResult(run=1, state="COMPLETED", output_digests={"result": digest(9)},
                                disputes=[], tx_id=tx(72), at=NOW - 200)},
    ),
    _job(
        3, "FAILED",
        protocol="psi",
        inputs=[_input(DATASETS[0], "customer_id"), _input(DATASETS[1], "customer_id")],
        parameters={"engine": "auto"},
        outputs={"cardinality": ["bank", "platform"], "intersection": ["bank"]},
        participants=["bank", "platform"], required_approvers=["bank", "platform"],
        requester="bank",
        approvals={"bank": Approval(tx_id=tx(64), at=NOW - 1700, by_request=True),
                   "platform": Approval(tx_id=tx(65), at=NOW - 1600)},
        runs_used=1, current_run=1,
        failures={"platform": Failure(tx_id=tx(66), at=NOW - 1500, run=1,
                                      reason="E_INPUT_CHANGED platform/users:customer_id: the "
                                      "local data no longer matches the approved fingerprint")},
    ),
    _job(
        4, "REJECTED",
        rejection=Reasoned(tx_id=tx(67), at=NOW - 2300, org="bank",
                           reason="not for marketing"),
    ),
]

TRAIL = [
    {"tx_id": tx(41), "block": 12, "timestamp": NOW - 600, "validation": "VALID",
     "state": "REQUESTED", "action": "requested", "actor": "telecom",
     "signer": "Admin@telecom (admin)", "signer_msp_id": "TelecomMSP",
     "signer_fingerprint": digest(81), "endorsers": ["DevnetMSP"]},
    {"tx_id": tx(42), "block": 14, "timestamp": NOW - 500, "validation": "VALID",
     "state": "APPROVED", "action": "approved", "actor": "bank",
     "signer": "Admin@bank (admin)", "signer_msp_id": "BankMSP",
     "signer_fingerprint": digest(82), "endorsers": ["DevnetMSP"]},
]


class SeededSession(Session):
    """The TUI's session with its reads answered from the records above (no gateway)."""

    def __init__(self, org: str = "bank", user: str = "admin") -> None:
        super().__init__(Path("/net"), org, user, b"unused")
        self._read_only = org == "regulator"

    def members(self) -> list[Member]:
        return list(MEMBERS)

    def proposals(self, state: str = "") -> list[Proposal]:
        return [p for p in PROPOSALS if not state or p.state.value == state]

    def datasets(self, include_retired: bool = True) -> list[Dataset]:
        return [d for d in DATASETS if include_retired or d.status.value == "active"]

    def dataset(self, dataset_id: str) -> Dataset:
        return next(d for d in DATASETS if d.id == dataset_id)

    def dataset_history(self, dataset_id: str) -> list[HistoryEntry]:
        d = self.dataset(dataset_id)
        return [
            HistoryEntry(d.updated_tx, d.updated_at, False, d.model_dump(mode="json",
                                                                         by_alias=True)),
            HistoryEntry(tx(90), d.registered_at, False,
                         {**d.model_dump(mode="json", by_alias=True), "version": 1,
                          "fingerprint": digest(91)}),
        ]

    def jobs(self) -> list[Job]:
        return list(JOBS)

    def job(self, job_id: str) -> Job:
        return next(j for j in JOBS if j.id == job_id)

    def chain(self) -> dict[str, Any]:
        return {"height": 15, "current_block_hash": "ab" * 32, "previous_block_hash": "cd" * 32}

    def delivered(self, job_id: str) -> list[DeliveredOutput]:
        if self.org != "telecom" or job_id != JOBS[1].id:
            return []
        return [DeliveredOutput(job_id=job_id, run=1, protocol="stats", name="result",
                                path=f"/net/nodes/telecom/outputs/{job_id}/run-1/result.json",
                                digest=digest(9), bytes=24, receipt_tx=tx(72), kind="value",
                                value="128374651")]

    def certificates(self) -> list[CertificateInfo]:
        return [
            CertificateInfo(user=u, common_name=f"{u.capitalize()}@{self.org}", role=u,
                            fingerprint=digest(100 + i),
                            not_before=datetime.fromtimestamp(NOW - 86400 * 30, UTC),
                            not_after=datetime.fromtimestamp(NOW + 86400 * 335, UTC),
                            path=f"/net/orgs/{self.org}/users/{u}/msp/signcerts/cert.pem")
            for i, u in enumerate(("admin", "client", "node"))
        ]

    def identities(self, now: float) -> list[dict[str, Any]]:
        return [{"identity": c.user, "role": c.role, "status": "active",
                 "not_after": c.not_after.isoformat(), "fingerprint": c.fingerprint}
                for c in self.certificates()]

    def local_node(self) -> tuple[bool, int | None]:
        return True, 14

    def record_trail(self, kind: str, key: str) -> list[dict[str, Any]]:
        return list(TRAIL)

    def close(self) -> None:
        """Nothing to close."""
