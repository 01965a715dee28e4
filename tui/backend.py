"""The TUI's one door to the ledger: a session of ORG/USER and the use cases its screens call.

Every method delegates to the application layer the CLI uses (`alliance.app`), so a query,
a rule or a message is never written twice; this module only holds the session its screens share.

Methods are blocking (gRPC): screens call them from `@work(thread=True)` workers.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from alliance.app import audit as app_audit
from alliance.app import datasets as app_datasets
from alliance.app import decisions as app_decisions
from alliance.app import events as app_events
from alliance.app import jobs as app_jobs
from alliance.app import keys as app_keys
from alliance.app import members as app_members
from alliance.app import nodes as app_nodes
from alliance.app import query as app_query
from alliance.app import results as app_results
from alliance.app.datasets import FilePreview as FilePreview
from alliance.app.decisions import PendingDecisions as PendingDecisions
from alliance.app.errors import AppError, Refused, Unreachable, mapped_errors
from alliance.app.errors import LocalTrouble as LocalTrouble
from alliance.app.events import changed_jobs as changed_jobs
from alliance.app.jobs import HistoryEntry
from alliance.app.keys import CertificateInfo as CertificateInfo
from alliance.app.nodes import NodeHealth as NodeHealth
from alliance.app.progress import Progress, no_progress
from alliance.app.query import LookupAnswer as LookupAnswer
from alliance.app.query import ServerState as ServerState
from alliance.app.query import ServiceState as ServiceState
from alliance.app.query import fed_summary as fed_summary
from alliance.app.results import DeliveredOutput
from alliance.app.session import open_session
from alliance.models import Dataset, Job, Member, Proposal, ProposalState

BackendError = AppError
"""Every error a screen may see: the application layer's, whose text is what the user reads."""
LedgerRefused = Refused
LedgerUnreachable = Unreachable

ProgressCallback = Callable[[int, int | None], None]
"""Called as `progress(rows_done, rows_total_or_None)` while a file is fingerprinted."""


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

    # ---- who am I -----------------------------------------------------------------------------

    @property
    def read_only(self) -> bool:
        """True unless this org is an active member with the `member` role on the ledger (an
        auditor reads only). Decided once per session from the ledger's member record."""
        if self._read_only is None:
            self._read_only = app_decisions.is_read_only(self.members(), self.org)
        return self._read_only

    def certificates(self) -> list[CertificateInfo]:
        return app_keys.certificates(self.net_dir, self.org)

    def identities(self, now: float) -> list[dict[str, Any]]:
        """Every identity of this org with its state at `now` (`alliance keys list`): `active`,
        `expiring in N days` (within 30), `expired`, or revoked."""
        from datetime import UTC, datetime

        listed = app_keys.list_keys(self.app, now=datetime.fromtimestamp(now, UTC))
        return list(listed["identities"])

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
        return app_audit.chain_head(self.app)

    def verify_chain(self) -> dict[str, Any]:
        """`audit chain`: check the whole ledger (Refused naming what does not verify)."""
        return app_audit.check_chain(
            self.net_dir, lambda: open_session(self.net_dir, self.org, self.user, self._passphrase)
        )

    def height(self) -> int:
        return int(self.chain()["height"])

    def pending(self, jobs: list[Job] | None = None) -> PendingDecisions:
        """Jobs waiting for this org's approval or vote, proposals for its vote (among `jobs`
        when the caller has read them already)."""
        if self.read_only:
            return PendingDecisions()
        return app_decisions.pending_decisions(
            self.jobs() if jobs is None else jobs,
            self.proposals(ProposalState.PENDING.value),
            self.org,
        )

    def local_node(self) -> tuple[bool, int | None]:
        """(runs, checkpoint block) of this org's node on this machine."""
        return app_nodes.local_node(self.net_dir, self.org)

    def node_health(self, members: list[Member], jobs: list[Job]) -> list[NodeHealth]:
        """Each member node's health: this org's node as this machine sees it, the others' as
        the ledger shows them (claims of running jobs)."""
        return app_nodes.node_health(members, jobs, self.org, self.local_node())

    def awaits_approval(self, job: Job) -> bool:
        return not self.read_only and app_decisions.awaits_approval(job, self.org)

    def awaits_vote(self, job: Job) -> bool:
        return not self.read_only and app_decisions.awaits_vote(job, self.org)

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
        """(name, description, default or "") of each parameter of the protocol's schema, the
        required ones first."""
        from alliance.protocols import describe_param, get_protocol_spec
        from alliance.protocols.help import param_default

        fields = get_protocol_spec(protocol).params.model_fields
        ordered = sorted(fields.items(), key=lambda item: not item[1].is_required())
        return [
            (name, describe_param(name, info), param_default(info) or "")
            for name, info in ordered
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
        """Trail of a job, dataset or member (signer, endorsers, block, validation code)."""
        return app_audit.record_trail(self.app, kind, key)

    def verify_file(self, job_id: str, output: str, path: Path, run: int = 0) -> Any:
        """Compare a result file with the digest the ledger records (`audit verify`)."""
        return app_audit.verify_output(self.app, job_id, output, Path(path).expanduser(), run)

    # ---- actions -------------------------------------------------------------------------------

    def approve_job(self, job_id: str) -> Job:
        return app_jobs.approve_job(self.app, job_id)

    def reject_job(self, job_id: str, reason: str) -> Job:
        return app_jobs.reject_job(self.app, job_id, reason)

    def may_revoke(self, job: Job) -> bool:
        return not self.read_only and app_decisions.may_revoke(job, self.org)

    def revoke_job(self, job_id: str, reason: str) -> Job:
        return app_jobs.revoke_job(self.app, job_id, reason)

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
        return app_datasets.preview_file(path, rows)

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
        total = app_datasets.row_total(Path(path).expanduser())

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

    # ---- the multi-lender query service -----------------------------------------------------

    def query_service(self, now: float) -> ServiceState:
        """The service job's terms (or why there is none), the query servers, and this org's
        lookups on the UTC day of `now`."""
        return app_query.service_state(self.app, now)

    def query_records(self) -> list[dict[str, Any]]:
        """This org's kept lookup records, newest first (`alliance query records`)."""
        return app_query.kept_records(self.net_dir, self.org)

    def query_summaries(self) -> list[dict[str, Any]]:
        """The servers' committed period summaries of the service job (`query summaries`)."""
        return app_query.summaries(self.app)

    def lookup(self, applicant_id: str, purpose: str, consent_file: Path) -> LookupAnswer:
        """`alliance query lender`: aggregates over the other members, with consent."""
        return app_query.lookup(self.app, applicant_id, purpose, Path(consent_file).expanduser())

    def feed_events(self, path: Path | None,
                    step: Callable[[str], None] | None = None) -> dict[str, Any]:
        """`alliance query events [--file F]`: send this org's new contribution; `step` is
        told what the push is doing as it goes."""
        return app_query.feed_events(
            self.app, Path(path).expanduser() if path else None,
            on_progress=(lambda p: step(p.task)) if step is not None else no_progress)

    # ---- events ------------------------------------------------------------------------------

    def events(self, start_block: int | None, after_tx_id: str = "") -> Any:
        """The chaincode-event stream from `start_block` (None: the next commit)."""
        return app_events.event_stream(self.app, start_block, after_tx_id)
