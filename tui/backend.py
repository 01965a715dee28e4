"""The TUI's one door to the ledger: a session of ORG/USER and the use cases its screens call.

Almost every method delegates to the application layer the CLI uses (`alliance.app`), so a query,
a rule or a message is never written twice. What the app layer does not offer yet lives here,
marked "TUI-only" (candidates to move into `alliance.app`): the decisions waiting for this org,
whether the identity is read-only, the trail of a dataset or a member, the org's certificates,
a file preview, and the event stream the live screens follow.

Methods are blocking (gRPC): screens call them from `@work(thread=True)` workers.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from alliance.app import audit as app_audit
from alliance.app import datasets as app_datasets
from alliance.app import jobs as app_jobs
from alliance.app import members as app_members
from alliance.app import results as app_results
from alliance.app.errors import AppError, Refused, Unreachable, mapped_errors
from alliance.app.errors import LocalTrouble as LocalTrouble
from alliance.app.jobs import HistoryEntry
from alliance.app.progress import Progress
from alliance.app.results import DeliveredOutput
from alliance.app.session import open_session
from alliance.models import Dataset, Job, JobState, Member, MemberStatus, Proposal, ProposalState

BackendError = AppError
"""Every error a screen may see: the application layer's, whose text is what the user reads."""
LedgerRefused = Refused
LedgerUnreachable = Unreachable

ProgressCallback = Callable[[int, int | None], None]
"""Called as `progress(rows_done, rows_total_or_None)` while a file is fingerprinted."""


@dataclass(frozen=True)
class CertificateInfo:
    """One certificate of the acting org, as the Identity screen shows it."""

    user: str
    common_name: str
    role: str
    fingerprint: str
    not_before: datetime
    not_after: datetime
    path: str


@dataclass(frozen=True)
class PendingDecisions:
    """What waits for this org: jobs to approve, job votes, membership votes."""

    approvals: list[Job] = field(default_factory=list)
    job_votes: list[Job] = field(default_factory=list)
    proposals: list[Proposal] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.approvals) + len(self.job_votes) + len(self.proposals)


@dataclass(frozen=True)
class FilePreview:
    """A data file before registration: first rows and the inferred schema."""

    path: Path
    columns: list[dict[str, str]]
    rows: list[list[str]]


class Session:
    """ORG acting as USER on the ledger of NET (an `alliance.app` session, shared by threads)."""

    def __init__(
        self, net_dir: Path, org: str, user: str = "admin", passphrase: bytes | None = None
    ) -> None:
        self.net_dir = Path(net_dir)
        self.org = org
        self.user = user
        self._passphrase = passphrase
        self._lock = threading.Lock()
        self._app = open_session(self.net_dir, org, user, passphrase)
        self._read_only: bool | None = None

    # ---- connection ----------------------------------------------------------------------------

    def open_identity(self) -> None:
        """Read the passphrase and load the signing identity (nothing is sent): raises
        LocalTrouble when the key cannot be used, before any screen opens."""
        from alliance.keystore import get_passphrase
        from alliance.wallet import load_user

        with mapped_errors():
            if self._passphrase is None:
                self._passphrase = get_passphrase()
                self._app.passphrase = self._passphrase
            load_user(self.net_dir, self.org, self.user, self._passphrase)

    @property
    def app(self) -> Any:
        """The app-layer session, its connection opened once (under a lock: workers share it)."""
        with self._lock:
            _ = self._app.connection
        return self._app

    def reconnect(self) -> None:
        """Drop the gateway; the next call opens a new one (the ledger may have restarted)."""
        with self._lock:
            self._app.reconnect()

    def close(self) -> None:
        with self._lock:
            self._app.close()

    # ---- who am I (TUI-only) -------------------------------------------------------------------

    @property
    def read_only(self) -> bool:
        """True unless this org is an active member with the `member` role on the ledger (an
        auditor reads only). Decided once per session from the ledger's member record."""
        if self._read_only is None:
            me = next((m for m in self.members() if m.org == self.org), None)
            self._read_only = not (
                me is not None and me.status == MemberStatus.ACTIVE and "member" in me.roles
            )
        return self._read_only

    def certificates(self) -> list[CertificateInfo]:
        from alliance.identity import Identity
        from alliance.profile import load_profile

        with mapped_errors():
            profile = load_profile(self.net_dir)
            msp_id = profile.orgs[self.org].msp_id
            org_dir = profile.org_dir(self.net_dir, self.org)
            found = []
            for cert_path in sorted(org_dir.glob("users/*/msp/signcerts/cert.pem")):
                identity = Identity(msp_id=msp_id, certificate=cert_path.read_bytes())
                found.append(
                    CertificateInfo(
                        user=cert_path.parents[2].name,
                        common_name=identity.common_name,
                        role=identity.role,
                        fingerprint=identity.fingerprint,
                        not_before=identity.cert.not_valid_before_utc,
                        not_after=identity.cert.not_valid_after_utc,
                        path=str(cert_path),
                    )
                )
        return found

    # ---- reads ---------------------------------------------------------------------------------

    def members(self) -> list[Member]:
        return app_members.list_members(self.app)

    def proposals(self, state: str = "") -> list[Proposal]:
        return app_members.list_proposals(self.app, state)

    def datasets(self, include_retired: bool = True) -> list[Dataset]:
        return app_datasets.list_datasets(self.app, include_retired=include_retired)

    def dataset(self, dataset_id: str) -> Dataset:
        return app_datasets.show_dataset(self.app, dataset_id)

    def dataset_history(self, dataset_id: str) -> list[HistoryEntry]:
        return app_datasets.dataset_history(self.app, dataset_id)

    def jobs(self) -> list[Job]:
        return app_jobs.list_jobs(self.app)

    def job(self, job_id: str) -> Job:
        return app_jobs.show_job(self.app, job_id)

    def chain(self) -> dict[str, Any]:
        """Height and head hash of the ledger (qscc GetChainInfo)."""
        from network.audit import chain_info

        app = self.app
        with mapped_errors():
            return dict(chain_info(app.network).__dict__)

    def verify_chain(self) -> dict[str, Any]:
        """`audit chain`: check the whole ledger (Refused naming what does not verify)."""
        return app_audit.check_chain(
            self.net_dir, lambda: open_session(self.net_dir, self.org, self.user, self._passphrase)
        )

    def height(self) -> int:
        return int(self.chain()["height"])

    def pending(self) -> PendingDecisions:
        """TUI-only: jobs waiting for this org's approval or vote, proposals for its vote."""
        if self.read_only:
            return PendingDecisions()
        jobs = self.jobs()
        return PendingDecisions(
            approvals=[j for j in jobs if self.awaits_approval(j)],
            job_votes=[j for j in jobs if self.awaits_vote(j)],
            proposals=[
                p
                for p in self.proposals(ProposalState.PENDING.value)
                if self.org not in p.votes and p.org != self.org
            ],
        )

    def awaits_approval(self, job: Job) -> bool:
        """TUI-only: the job waits for this org's approval (it owns an input or deals)."""
        return (
            not self.read_only
            and job.state == JobState.REQUESTED
            and self.org in job.required_approvers
            and self.org not in job.approvals
        )

    def awaits_vote(self, job: Job) -> bool:
        """TUI-only: the job is put to a member vote and this org has not voted."""
        return (
            not self.read_only
            and job.state == JobState.REQUESTED
            and job.votes_needed > 0
            and self.org not in job.votes
        )

    def delivered(self, job_id: str) -> list[DeliveredOutput]:
        """This org's node's delivered outputs of a job (present only at a recipient)."""
        return app_results.delivered_outputs(self.net_dir, self.org, job_id)

    # ---- protocols (the registry the contract uses) --------------------------------------------

    def protocols(self) -> dict[str, tuple[str, ...]]:
        """Protocols the contract accepts, with their output names."""
        from alliance.protocols import PROTOCOLS

        return {name: tuple(spec.outputs) for name, spec in sorted(PROTOCOLS.items())}

    def protocol_help(self, protocol: str) -> str:
        """The same text as `alliance job request --help` shows for the protocol."""
        from alliance.protocols import get_protocol_spec, render_spec

        return render_spec(get_protocol_spec(protocol))

    def protocol_input_types(self, protocol: str) -> frozenset[str] | None:
        """Column types the protocol's inputs may have (from its spec)."""
        from alliance.protocols import get_protocol_spec

        return frozenset(get_protocol_spec(protocol).inputs.column_types)

    def parameter_fields(self, protocol: str) -> list[tuple[str, str, str]]:
        """(name, description, default or "") of each parameter of the protocol's schema."""
        from alliance.protocols import describe_param, get_protocol_spec
        from alliance.protocols.help import param_default

        fields = get_protocol_spec(protocol).params.model_fields
        return [
            (name, describe_param(name, info), param_default(info) or "")
            for name, info in fields.items()
        ]

    def check_parameters(self, protocol: str, parameters: dict[str, str]) -> dict[str, str]:
        """The parameters checked by the protocol's schema (the one the contract applies)."""
        from alliance.protocols import get_protocol_spec

        with mapped_errors():
            get_protocol_spec(protocol).parse_params(parameters)
        return dict(parameters)

    # ---- trails --------------------------------------------------------------------------------

    def job_trail(self, job_id: str) -> list[dict[str, Any]]:
        return app_audit.job_trail(self.app, job_id)

    def record_trail(self, kind: str, key: str) -> list[dict[str, Any]]:
        """Trail of a job, dataset or member: every transaction that changed it, with signer,
        endorsers, block and validation code (TUI-only for datasets and members)."""
        if kind == "job":
            return self.job_trail(key)
        if kind == "dataset":
            described = [
                (h.tx_id, f"version {(h.value or {}).get('version', '')}",
                 "deleted" if h.is_delete else str((h.value or {}).get("status", "")))
                for h in reversed(self.dataset_history(key))
            ]
        elif kind == "member":
            member = next((m for m in self.members() if m.org == key), None)
            if member is None:
                raise Refused(f"no member {key!r} on the ledger; see the Members screen")
            txs = {member.updated_tx: ("member record", member.status.value)}
            for p in self.proposals():
                if p.org == key:
                    for voter, v in p.votes.items():
                        txs.setdefault(v.tx_id, (f"{p.action} vote by {voter}: {v.vote}", p.id))
                    if p.decided_tx:
                        txs.setdefault(p.decided_tx, (f"{p.action} decided", p.state.value))
            described = [(tx, action, state) for tx, (action, state) in txs.items()]
        else:
            raise LocalTrouble(f"no trail for {kind!r}: use job, dataset or member")
        return sorted(
            (self._transaction(tx, action, state) for tx, action, state in described),
            key=lambda r: (r["block"], r["timestamp"]),
        )

    def _transaction(self, tx_id: str, action: str, state: str) -> dict[str, Any]:
        from network.audit import transaction_record

        with mapped_errors():
            r = transaction_record(self.app.network, tx_id)
        return {
            "tx_id": r.tx_id,
            "block": r.block_number,
            "timestamp": r.timestamp,
            "validation": r.validation_code,
            "state": state,
            "action": action,
            "actor": "",
            "signer": f"{r.creator_name} ({r.creator_role})",
            "signer_msp_id": r.creator_msp_id,
            "signer_fingerprint": r.creator_fingerprint,
            "endorsers": list(r.endorsers),
        }

    def verify_file(self, job_id: str, output: str, path: Path, run: int = 0) -> Any:
        """Compare a result file with the digest the ledger records (`audit verify`)."""
        return app_audit.verify_output(self.app, job_id, output, Path(path).expanduser(), run)

    # ---- actions -------------------------------------------------------------------------------

    def approve_job(self, job_id: str) -> Job:
        return app_jobs.approve_job(self.app, job_id)

    def reject_job(self, job_id: str, reason: str) -> Job:
        return app_jobs.reject_job(self.app, job_id, reason)

    def vote_job(self, job_id: str, vote: str) -> Job:
        return app_jobs.vote_job(self.app, job_id, vote)

    def request_job(
        self,
        protocol: str,
        inputs: list[str],
        parameters: dict[str, str],
        outputs: dict[str, list[str]],
        expires_in_seconds: int,
        max_runs: int,
        dealer: str | None = None,
    ) -> Job:
        request = app_jobs.build_request(
            protocol, inputs, parameters, outputs, expires_in_seconds, max_runs, dealer
        )
        return app_jobs.request_job(self.app, request)

    def propose(
        self, action: str, org: str, reason: str, roles: list[str] | None = None
    ) -> Proposal:
        if action == "join":
            return app_members.propose_join(self.app, org, (roles or ["member"])[0], reason)
        if action == "remove":
            return app_members.propose_removal(self.app, org, reason)
        return app_members.propose_roles(self.app, org, roles or [], reason)

    def vote_proposal(self, proposal_id: str, vote: str) -> Proposal:
        return app_members.vote_proposal(self.app, proposal_id, vote)

    def preview_file(self, path: Path, rows: int = 5) -> FilePreview:
        """TUI-only: first rows and inferred schema of a CSV or Parquet file (nothing is sent)."""
        from itertools import islice

        from alliance.datafile import infer_schema, iter_batches, schema_dicts

        path = Path(path).expanduser()
        with mapped_errors():
            schema = infer_schema(path)
            first: list[list[str]] = []
            for batch in islice(iter_batches(path, schema, batch_rows=rows), 1):
                first = [list(r) for r in zip(*batch, strict=True)]
        return FilePreview(path, schema_dicts(schema), first[:rows])

    def register_dataset(
        self,
        path: Path,
        name: str,
        *,
        types: dict[str, str] | None = None,
        description: str = "",
        tags: list[str] | None = None,
        progress: ProgressCallback | None = None,
        update: bool = False,
    ) -> Dataset:
        """Fingerprint the file here and register only its description (`dataset register`);
        with `update`, a new version of one of this org's datasets (`dataset update`)."""
        total = _row_total(Path(path).expanduser())

        def report(p: Progress) -> None:
            if progress is not None:
                progress(int(p.done), int(p.total) if p.total is not None else total)

        registration = app_datasets.register_dataset(
            self.app,
            name,
            file=Path(path),
            description=description,
            tags=list(tags or []),
            types=types or {},
            progress=report,
            update=update,
        )
        return registration.dataset

    def retire_dataset(self, name: str) -> Dataset:
        return app_datasets.retire_dataset(self.app, name)

    # ---- events (TUI-only) ---------------------------------------------------------------------

    def events(self, start_block: int | None, after_tx_id: str = "") -> Any:
        """The chaincode-event stream from `start_block` (None: the next commit)."""
        app = self.app
        with mapped_errors():
            return app.network.chaincode_events(
                app.chaincode, start_block=start_block, after_tx_id=after_tx_id
            )


def changed_jobs(events: list[Any] | None) -> set[str] | None:
    """TUI-only: the ids of the jobs `events` are about, or None when some event is about
    something else (or there is no list): then a screen reads everything again."""
    import json

    if events is None:
        return None
    ids = set()
    for event in events:
        try:
            payload = json.loads(event.payload)
        except ValueError:
            return None
        job_id = payload.get("job_id") if isinstance(payload, dict) else None
        if not isinstance(job_id, str):
            return None
        ids.add(job_id)
    return ids


def _row_total(path: Path) -> int | None:
    """Rows in a data file, cheaply (CSV: non-blank lines minus the header; Parquet: metadata)."""
    try:
        if path.suffix.lower() == ".parquet":
            import pyarrow.parquet as pq

            return int(pq.ParquetFile(path).metadata.num_rows)
        with path.open("rb") as f:
            return max(sum(1 for line in f if line.strip()) - 1, 0)
    except Exception:
        return None
