"""The TUI's one door to the ledger: a session of ORG/USER and every use case a screen needs.

Temporary adapter: the application layer shared with the CLI (`alliance/app/`) is being built on
another branch. Each method here is one use case built on the same pieces the CLI uses
(`connect_member`, the contract's transactions, `alliance.models` records); as the app layer
lands, these methods delegate to it, so that no query or message lives in the TUI alone.

Methods are blocking (gRPC); screens call them from `@work(thread=True)` workers.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alliance.canonical import canonical_json, loads, sha256_digest
from alliance.models import (
    Dataset,
    Job,
    JobState,
    Member,
    MemberStatus,
    Proposal,
    ProposalState,
)

Progress = Callable[[int, int | None], None]
"""Called as `progress(rows_done, rows_total_or_None)` while a file is fingerprinted."""


class BackendError(Exception):
    """Root of the TUI backend's errors; `str(exc)` is what the user reads."""


class LedgerRefused(BackendError):
    """The contract refused an action; the message is its reason in plain words."""


class LedgerUnreachable(BackendError):
    """The ledger cannot be reached now; the app shows a banner and reconnects."""


class LocalTrouble(BackendError):
    """A file, key or passphrase problem on this machine."""


def user_message(exc: BaseException) -> str:
    """The one line a user reads for an error from the layers below (as the CLI words it)."""
    from network.errors import ContractRejected

    if isinstance(exc, ContractRejected):
        return f"refused by the ledger: {exc.reason}"
    return str(exc)


def _mapped(exc: Exception) -> BackendError:
    from alliance.errors import AllianceError
    from network.errors import ContractRejected, DevnetError, NetworkError, Unavailable
    from node.errors import NodeError

    if isinstance(exc, ContractRejected):
        return LedgerRefused(user_message(exc))
    if isinstance(exc, (Unavailable, DevnetError)):
        return LedgerUnreachable(f"the ledger is unreachable: {exc}")
    if isinstance(exc, NetworkError):
        text = str(exc)
        if "UNAVAILABLE" in text or "unavailable" in text.lower():
            return LedgerUnreachable(f"the ledger is unreachable: {exc}")
        return LedgerRefused(text)
    if isinstance(exc, (AllianceError, NodeError, OSError, ValueError)):
        return LocalTrouble(str(exc))
    raise exc


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
class Delivered:
    """A run's outputs delivered to this org's node: the manifest and each file's path."""

    run: int
    directory: Path
    manifest: dict[str, Any]
    files: dict[str, Path]


@dataclass(frozen=True)
class FilePreview:
    """A data file before registration: first rows, inferred schema, row count."""

    path: Path
    columns: list[dict[str, str]]
    rows: list[list[str]]


@dataclass(frozen=True)
class Verification:
    job_id: str
    run: int
    output: str
    recorded: str
    actual: str

    @property
    def matches(self) -> bool:
        return self.recorded == self.actual


class Session:
    """ORG acting as USER on the ledger of NET. Thread-safe: one gateway, reopened on demand."""

    def __init__(
        self, net_dir: Path, org: str, user: str = "admin", passphrase: bytes | None = None
    ) -> None:
        self.net_dir = Path(net_dir)
        self.org = org
        self.user = user
        self._passphrase = passphrase
        self._conn: Any = None
        self._lock = threading.Lock()
        self._read_only: bool | None = None

    # ---- connection ----------------------------------------------------------------------------

    def open_identity(self) -> None:
        """Read the passphrase and load the signing identity (nothing is sent): raises
        LocalTrouble when the key cannot be used, before any screen opens."""
        from alliance.keystore import get_passphrase
        from alliance.wallet import load_user

        try:
            if self._passphrase is None:
                self._passphrase = get_passphrase()
            load_user(self.net_dir, self.org, self.user, self._passphrase)
        except Exception as exc:
            raise _mapped(exc) from exc

    def _connection(self) -> Any:
        with self._lock:
            if self._conn is None:
                from network.connection import connect_member

                try:
                    self._conn = connect_member(
                        self.net_dir, self.org, self.user, self._passphrase
                    )
                except Exception as exc:
                    raise _mapped(exc) from exc
            return self._conn

    def reconnect(self) -> None:
        """Drop the gateway and open a new one (the ledger may have come back on a new port)."""
        with self._lock:
            old, self._conn = self._conn, None
        if old is not None:
            old.close()
        self._connection()

    def close(self) -> None:
        with self._lock:
            old, self._conn = self._conn, None
        if old is not None:
            old.close()

    def _call(self, submit: bool, function: str, *args: str) -> Any:
        conn = self._connection()
        try:
            contract = conn.contract
            raw = (
                contract.submit_transaction(function, *args)
                if submit
                else contract.evaluate_transaction(function, *args)
            )
        except Exception as exc:
            raise _mapped(exc) from exc
        return loads(raw or b"null")

    def _query(self, function: str, *args: str) -> Any:
        return self._call(False, function, *args)

    def _submit(self, function: str, *args: str) -> Any:
        return self._call(True, function, *args)

    # ---- who am I ------------------------------------------------------------------------------

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

        profile = load_profile(self.net_dir)
        org_dir = profile.org_dir(self.net_dir, self.org)
        found = []
        for cert_path in sorted(org_dir.glob("users/*/msp/signcerts/cert.pem")):
            identity = Identity(
                msp_id=profile.orgs[self.org].msp_id, certificate=cert_path.read_bytes()
            )
            cert = identity.cert
            found.append(
                CertificateInfo(
                    user=cert_path.parents[2].name,
                    common_name=identity.common_name,
                    role=identity.role,
                    fingerprint=identity.fingerprint,
                    not_before=cert.not_valid_before_utc,
                    not_after=cert.not_valid_after_utc,
                    path=str(cert_path),
                )
            )
        return found

    # ---- reads ---------------------------------------------------------------------------------

    def members(self) -> list[Member]:
        return [Member.model_validate(m) for m in self._query("ListMembers")]

    def proposals(self, state: str = "") -> list[Proposal]:
        return [Proposal.model_validate(p) for p in self._query("ListProposals", state)]

    def datasets(self, include_retired: bool = True) -> list[Dataset]:
        query = canonical_json({"include_retired": include_retired}).decode()
        return [Dataset.model_validate(d) for d in self._query("ListDatasets", query)]

    def dataset(self, dataset_id: str) -> Dataset:
        return Dataset.model_validate(self._query("GetDataset", dataset_id))

    def dataset_history(self, dataset_id: str) -> list[dict[str, Any]]:
        return list(self._query("DatasetHistory", dataset_id))

    def jobs(self) -> list[Job]:
        return [Job.model_validate(j) for j in self._query("ListJobs", "{}")]

    def job(self, job_id: str) -> Job:
        return Job.model_validate(self._query("GetJob", job_id))

    def height(self) -> int:
        from network.audit import chain_info

        conn = self._connection()
        try:
            return chain_info(conn.network).height
        except Exception as exc:
            raise _mapped(exc) from exc

    def chain(self) -> dict[str, Any]:
        from network.audit import chain_info

        conn = self._connection()
        try:
            return dict(chain_info(conn.network).__dict__)
        except Exception as exc:
            raise _mapped(exc) from exc

    def pending(self) -> PendingDecisions:
        """Jobs waiting for this org's approval or vote, proposals waiting for its vote."""
        if self.read_only:
            return PendingDecisions()
        jobs = [j for j in self.jobs() if j.state == JobState.REQUESTED]
        return PendingDecisions(
            approvals=[
                j for j in jobs if self.org in j.required_approvers and self.org not in j.approvals
            ],
            job_votes=[j for j in jobs if j.votes_needed and self.org not in j.votes],
            proposals=[
                p
                for p in self.proposals(ProposalState.PENDING.value)
                if self.org not in p.votes and p.org != self.org
            ],
        )

    def protocols(self) -> dict[str, tuple[str, ...]]:
        """Protocols the contract accepts, with their output names (the protocol registry)."""
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

    def parameter_help(self, protocol: str) -> str:
        from alliance.protocols import describe_param, get_protocol_spec

        spec = get_protocol_spec(protocol)
        fields = spec.params.model_fields
        if not fields:
            return f"{protocol} takes no parameters."
        lines = [f"Parameters of {protocol}, as name=value, comma separated:"]
        lines += [f"  {describe_param(name, info)}" for name, info in fields.items()]
        return "\n".join(lines)

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
        """The parameters checked by the protocol's schema (the one the contract applies);
        LocalTrouble lists every problem with the accepted values."""
        from alliance.errors import ProtocolSpecError
        from alliance.protocols import get_protocol_spec

        try:
            get_protocol_spec(protocol).parse_params(parameters)
        except ProtocolSpecError as exc:
            raise LocalTrouble(str(exc)) from exc
        return dict(parameters)

    # ---- trails --------------------------------------------------------------------------------

    def job_trail(self, job_id: str) -> list[dict[str, Any]]:
        from network.audit import job_trail

        conn = self._connection()
        try:
            return [e.to_dict() for e in job_trail(conn.network, conn.profile.chaincode, job_id)]
        except Exception as exc:
            raise _mapped(exc) from exc

    def record_trail(self, kind: str, key: str) -> list[dict[str, Any]]:
        """Trail of a job, dataset or member: every transaction that changed it, with signer,
        endorsers, block and validation code."""
        if kind == "job":
            return self.job_trail(key)
        from network.audit import transaction_record

        if kind == "dataset":
            tx_ids = [(h["tx_id"], h.get("value") or {}) for h in self.dataset_history(key)]
            tx_ids.reverse()
            described = [
                (tx, f"version {v.get('version', '')}", str(v.get("status", "")))
                for tx, v in tx_ids
            ]
        elif kind == "member":
            member = next((m for m in self.members() if m.org == key), None)
            if member is None:
                raise LedgerRefused(f"no member {key!r} on the ledger")
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
        conn = self._connection()
        rows = []
        try:
            for tx, action, state in described:
                r = transaction_record(conn.network, tx)
                rows.append(
                    {
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
                )
        except Exception as exc:
            raise _mapped(exc) from exc
        return sorted(rows, key=lambda r: (r["block"], r["timestamp"]))

    def verify_file(self, job_id: str, output: str, path: Path, run: int = 0) -> Verification:
        """Compare a result file with the digest the ledger records (as `audit verify` does)."""
        path = Path(path).expanduser()
        if not path.is_file():
            raise LocalTrouble(f"no file {path}")
        job = self.job(job_id)
        run = run or job.current_run
        result = job.results.get(str(run))
        if result is None:
            raise LocalTrouble(f"{job_id} has no recorded result for run {run}")
        recorded = result.output_digests.get(output)
        if recorded is None:
            raise LocalTrouble(
                f"run {run} of {job_id} records no output {output!r}; "
                f"it has: {', '.join(sorted(result.output_digests)) or 'none'}"
            )
        return Verification(job_id, run, output, recorded, sha256_digest(path.read_bytes()))

    def delivered(self, job_id: str) -> list[Delivered]:
        """This org's node's delivered outputs of a job (present only at a recipient)."""
        from node.paths import outputs_dir

        root = outputs_dir(self.net_dir, self.org) / job_id
        found = []
        for run_path in sorted(root.glob("run-*")):
            manifest_path = run_path / "manifest.json"
            if not manifest_path.is_file():
                continue
            manifest = json.loads(manifest_path.read_text())
            files = {
                name: run_path / str(o.get("file", name))
                for name, o in manifest.get("outputs", {}).items()
            }
            found.append(
                Delivered(int(manifest.get("run", 0)), run_path, manifest, files)
            )
        return found

    # ---- actions -------------------------------------------------------------------------------

    def approve_job(self, job_id: str) -> Job:
        return Job.model_validate(self._submit("ApproveJob", job_id))

    def reject_job(self, job_id: str, reason: str) -> Job:
        return Job.model_validate(self._submit("RejectJob", job_id, reason))

    def vote_job(self, job_id: str, vote: str) -> Job:
        return Job.model_validate(self._submit("VoteJob", job_id, vote))

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
        body: dict[str, Any] = {
            "protocol": protocol,
            "inputs": inputs,
            "parameters": parameters,
            "outputs": outputs,
            "expires_in_seconds": expires_in_seconds,
            "max_runs": max_runs,
        }
        if dealer:
            body["dealer"] = dealer
        return Job.model_validate(self._submit("RequestJob", canonical_json(body).decode()))

    def propose(
        self, action: str, org: str, reason: str, roles: list[str] | None = None
    ) -> Proposal:
        body: dict[str, Any] = {"action": action, "org": org, "reason": reason}
        if action == "join":
            from alliance.profile import load_profile

            entry = load_profile(self.net_dir).orgs.get(org)
            if entry is None:
                raise LocalTrouble(
                    f"{org!r} has no identity material in this network yet; create it with "
                    f"`alliance network add-org --dir NET {org}` first"
                )
            body["msp_id"] = entry.msp_id
            body["roles"] = roles or ["member"]
        elif action == "set_roles":
            body["roles"] = roles or []
        return Proposal.model_validate(self._submit("ProposeMember", canonical_json(body).decode()))

    def vote_proposal(self, proposal_id: str, vote: str) -> Proposal:
        return Proposal.model_validate(self._submit("VoteProposal", proposal_id, vote))

    def preview_file(self, path: Path, rows: int = 5) -> FilePreview:
        """First rows and inferred schema of a CSV or Parquet file (nothing is sent)."""
        from itertools import islice

        from alliance.datafile import infer_schema, iter_batches, schema_dicts

        try:
            schema = infer_schema(Path(path))
            first: list[list[str]] = []
            for batch in islice(iter_batches(Path(path), schema, batch_rows=rows), 1):
                first = [list(r) for r in zip(*batch, strict=True)]
        except Exception as exc:
            raise _mapped(exc) from exc
        return FilePreview(Path(path), schema_dicts(schema), first[:rows])

    def register_dataset(
        self,
        path: Path,
        name: str,
        *,
        types: dict[str, str] | None = None,
        description: str = "",
        tags: list[str] | None = None,
        progress: Progress | None = None,
    ) -> Dataset:
        """Fingerprint the file here (schema, rows, Merkle root), register only those on the
        ledger, and tell this org's node store where the rows live (as `dataset register`)."""
        from alliance.datafile import Column, infer_schema, iter_batches
        from alliance.fingerprint import fingerprint_batches

        path = Path(path).expanduser().resolve()
        try:
            schema = infer_schema(path)
            if types:
                schema = [Column(c.name, types.get(c.name, c.type)) for c in schema]
            total = _row_total(path)
            done = 0

            def counted() -> Iterator[list[list[str]]]:
                nonlocal done
                for batch in iter_batches(path, schema):
                    done += len(batch[0]) if batch else 0
                    if progress is not None:
                        progress(done, total)
                    yield batch

            fp = fingerprint_batches(schema, counted())
        except Exception as exc:
            raise _mapped(exc) from exc
        spec = {
            "name": name,
            "schema": fp.schema,
            "row_count": fp.row_count,
            "fingerprint": fp.fingerprint,
            "description": description,
            "tags": sorted(set(tags or [])),
        }
        dataset = Dataset.model_validate(
            self._submit("RegisterDataset", canonical_json(spec).decode())
        )
        self._remember_locally(name, str(path), fp, dataset)
        return dataset

    def _remember_locally(self, name: str, location: str, fp: Any, dataset: Dataset) -> None:
        from node.paths import node_store_path
        from node.store import LocalDataset, NodeStore

        try:
            store = NodeStore(node_store_path(self.net_dir, self.org))
            store.put_dataset(
                LocalDataset(
                    name=name,
                    location=location,
                    columns_json=json.dumps(fp.schema),
                    row_count=fp.row_count,
                    fingerprint=fp.fingerprint,
                    merkle_root=fp.merkle_root,
                    ledger_version=dataset.version,
                    ledger_tx=dataset.updated_tx,
                )
            )
        except Exception as exc:
            raise _mapped(exc) from exc

    def retire_dataset(self, name: str) -> Dataset:
        return Dataset.model_validate(self._submit("RetireDataset", name))

    # ---- events --------------------------------------------------------------------------------

    def events(self, start_block: int | None, after_tx_id: str = "") -> Any:
        """The chaincode-event stream from `start_block` (None: the next commit)."""
        conn = self._connection()
        try:
            return conn.network.chaincode_events(
                conn.profile.chaincode, start_block=start_block, after_tx_id=after_tx_id
            )
        except Exception as exc:
            raise _mapped(exc) from exc


def _row_total(path: Path) -> int | None:
    """Rows in a data file, cheaply (CSV: lines minus the header; Parquet: its metadata)."""
    try:
        if path.suffix.lower() == ".parquet":
            import pyarrow.parquet as pq

            return int(pq.ParquetFile(path).metadata.num_rows)
        with path.open("rb") as f:
            return max(sum(1 for line in f if line.strip()) - 1, 0)
    except Exception:
        return None


def now_utc() -> datetime:
    return datetime.now(UTC)
