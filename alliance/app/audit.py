"""Audit use cases: a job's trail (every transaction, its signer and block), a result file checked
against the digest on the ledger, the whole ledger checked (`audit chain`), every block proven
from Deliver (`verify_chain`), a job's audit bundle for offline verification (`export_job`), and
lineage (`lineage`, `report`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alliance.app.errors import BadInput, FileMissing, Refused, mapped_errors
from alliance.app.jobs import resolve_job_id, show_job
from alliance.app.session import Session
from alliance.canonical import sha256_digest


@dataclass(frozen=True)
class Verification:
    job_id: str
    run: int
    output: str
    file: str
    recorded: str
    actual: str

    @property
    def matches(self) -> bool:
        return self.recorded == self.actual


def job_trail(session: Session, job_id: str) -> list[dict[str, Any]]:
    from network.audit import job_trail as trail

    full = resolve_job_id(session, job_id)
    with mapped_errors():
        return [e.to_dict() for e in trail(session.network, session.chaincode, full)]


def verify_output(
    session: Session, job_id: str, output: str, file: Path, run: int = 0
) -> Verification:
    """The file's digest beside the digest the run's receipts agreed on."""
    if not Path(file).is_file():
        raise FileMissing(f"no file {file}: give the path of the output file to check")
    job = show_job(session, job_id)
    run = run or job.current_run
    result = job.results.get(str(run))
    if result is None:
        raise BadInput(
            f"{job.id} has no recorded result for run {run} (it is {job.state.value}); "
            f"follow it with `alliance job wait {job.id}`"
        )
    recorded = result.output_digests.get(output)
    if recorded is None:
        raise BadInput(
            f"run {run} of {job.id} records no output {output!r}; "
            f"it has: {', '.join(sorted(result.output_digests)) or 'none'}"
        )
    with mapped_errors():
        actual = sha256_digest(Path(file).read_bytes())
    return Verification(job.id, run, output, str(file), recorded, actual)


def check_chain(net_dir: Path, open_session: Callable[[], Session]) -> dict[str, Any]:
    """`audit chain`: check the whole ledger; a mismatch is Refused (exit 1) naming the block,
    key or check. On devnet the ledger file itself is checked (hash chain, data hashes, state
    commitments, world state, a replay of every block) — read-only, devnet running or not; on
    Fabric every block is fetched through qscc and its hashes checked."""
    from network.connection import current_engine

    with mapped_errors():
        if current_engine(net_dir) == "devnet":
            from network.devnet import check_ledger

            return {"engine": "devnet", "verified": True, **check_ledger(net_dir).to_dict()}
        from network.audit import verify_chain

        with open_session() as session:
            return {"engine": "fabric", "verified": True, **verify_chain(session.network).__dict__}


def verify_chain(session: Session, *, progress: Any = None) -> Any:
    """Every block of the channel read through Deliver and proven (`network.chainverify`):
    links, data hashes, orderer, creator and endorsement signatures against the certificates
    valid at each block, the endorsement policy, validation codes, the contract replayed, and
    the final world state compared with the ledger's answers. A `ChainReport`."""
    import time

    from alliance.msp import MspRegistry
    from chaincode import default_router
    from network.chainverify import ChainVerifier, compare_world_state
    from network.deliver import BlockReader
    from network.errors import DeliverError

    conn = session.connection
    with mapped_errors():
        registry = MspRegistry.from_network(session.net_dir)
        channel = conn.profile.channel
        reader = BlockReader(conn.gateway, channel)
        height = reader.height()
    verifier = ChainVerifier(registry, default_router, session.chaincode, channel)
    number = 0
    with mapped_errors():
        while number < height:
            try:
                for block in reader.blocks(number, height - 1, wait=False):
                    verifier.feed(block)
                    number = block.header.number + 1
                    if progress is not None:
                        progress(number, height)
            except DeliverError as exc:  # a block the ledger cannot deliver is a finding
                why = _undelivered(exc)
                if why is None:
                    raise
                verifier.missing(number, why)
                number += 1
    identity = conn.gateway.identity
    with mapped_errors():
        compare_world_state(
            verifier,
            conn.contract.evaluate_transaction,
            (identity.msp_id, identity.certificate),
            int(time.time()),
        )
    return verifier.report


def _undelivered(exc: Exception) -> str | None:
    """Why the ledger did not deliver a block it has (a missing block, or one it refuses to
    serve because its own checks fail), or None when the stream broke for another reason."""
    import grpc

    if getattr(exc, "status_name", "") == "NOT_FOUND":
        return "not found"
    cause = exc.__cause__
    if isinstance(cause, grpc.RpcError) and cause.code() in (
        grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL, grpc.StatusCode.DATA_LOSS
    ):
        return f"the ledger failed to serve it: {cause.details()}"
    return None


def export_job(session: Session, job_id: str, path: Path | None = None) -> dict[str, Any]:
    """Write job `job_id`'s self-contained audit bundle to `path` (JSON; default
    JOB.bundle.json); a summary."""
    import json
    import time

    from alliance.msp import MspRegistry
    from network.auditbundle import build_bundle
    from network.deliver import BlockReader

    job = show_job(session, job_id)
    conn = session.connection
    with mapped_errors():
        reader = BlockReader(conn.gateway, conn.profile.channel)
        height = reader.height()
        bundle = build_bundle(
            reader.blocks(0, height - 1, wait=False),
            MspRegistry.from_network(session.net_dir),
            job.id,
            job.datasets(),
            channel=conn.profile.channel,
            chaincode=session.chaincode,
            exported_at=int(time.time()),
        )
    path = path or Path(f"{job.id}.bundle.json")
    live = session.evaluate("GetJob", job.id)
    if bundle["job"] != live:
        raise Refused(
            f"the ledger's record of {job.id} is not the one its blocks wrote last; "
            "run `alliance audit verify-chain` to see where they differ"
        )
    with mapped_errors():
        Path(path).write_text(json.dumps(bundle, indent=1, sort_keys=True))
    return {
        "job_id": job.id,
        "file": str(path),
        "blocks": len(bundle["blocks"]),
        "transactions": len(bundle["transactions"]),
        "height": len(bundle["headers"]),
    }


def lineage(
    session: Session,
    *,
    dataset: str | None = None,
    job: str | None = None,
    output_file: Path | None = None,
) -> Any:
    """The lineage graph (`alliance.lineage.Graph`) around a dataset (every version), a job,
    or the job output a file is (by its digest); the whole graph when none is given."""
    from alliance.lineage import gather, start_nodes

    digest = None
    if output_file is not None:
        if not Path(output_file).is_file():
            raise FileMissing(f"no file {output_file}: give the path of a job's output file")
        with mapped_errors():
            digest = sha256_digest(Path(output_file).read_bytes())
    job_id = resolve_job_id(session, job) if job else None
    graph = gather(session.evaluate)
    if dataset is None and job_id is None and digest is None:
        return graph
    start = start_nodes(graph, dataset=dataset, job=job_id, digest=digest)
    if not start:
        what = (
            f"dataset {dataset}" if dataset else f"job {job_id}" if job_id
            else f"an output with the digest of {output_file} ({digest})"
        )
        raise BadInput(
            f"the ledger records no {what}; list what it has with `alliance dataset list` or "
            "`alliance job list`"
        )
    return graph.component(start)


def report(session: Session, out_dir: Path, **question: Any) -> dict[str, str]:
    """Write the lineage as lineage.json, report.md and report.html in `out_dir` (a regulator's
    report: who approved what, when, under which charter version, which fingerprints went in and
    came out); the paths written."""
    import json

    from alliance.lineage_report import markdown, to_html

    graph = lineage(session, **question)
    charter = session.evaluate("GetCharter")
    title = f"Lineage report of {charter.get('name', 'the alliance')}"
    out = Path(out_dir)
    paths = {"json": out / "lineage.json", "markdown": out / "report.md",
             "html": out / "report.html"}
    with mapped_errors():
        out.mkdir(parents=True, exist_ok=True)
        paths["json"].write_text(json.dumps(graph.to_dict(), indent=1, sort_keys=True))
        paths["markdown"].write_text(markdown(graph, title))
        paths["html"].write_text(to_html(graph, title))
    return {k: str(v) for k, v in paths.items()}


def chain_head(session: Session) -> dict[str, Any]:
    """Height and head hash of the ledger (qscc GetChainInfo)."""
    from network.audit import chain_info

    with mapped_errors():
        return dict(chain_info(session.network).__dict__)


def record_trail(session: Session, kind: str, key: str) -> list[dict[str, Any]]:
    """Trail of a job, dataset or member: every transaction that changed it, with signer,
    endorsers, block and validation code, oldest first."""
    from alliance.app.datasets import dataset_history
    from alliance.app.members import list_members, list_proposals

    if kind == "job":
        return job_trail(session, key)
    if kind == "dataset":
        described = [
            (h.tx_id, f"version {(h.value or {}).get('version', '')}",
             "deleted" if h.is_delete else str((h.value or {}).get("status", "")))
            for h in reversed(dataset_history(session, key))
        ]
    elif kind == "member":
        member = next((m for m in list_members(session) if m.org == key), None)
        if member is None:
            raise Refused(f"no member {key!r} on the ledger; see `alliance member list`")
        txs = {member.updated_tx: ("member record", member.status.value)}
        for p in list_proposals(session):
            if p.org == key:
                for voter, v in p.votes.items():
                    txs.setdefault(v.tx_id, (f"{p.action} vote by {voter}: {v.vote}", p.id))
                if p.decided_tx:
                    txs.setdefault(p.decided_tx, (f"{p.action} decided", p.state.value))
        described = [(tx, action, state) for tx, (action, state) in txs.items()]
    else:
        raise BadInput(f"no trail for {kind!r}: use job, dataset or member")
    return sorted(
        (_transaction(session, tx, action, state) for tx, action, state in described),
        key=lambda r: (r["block"], r["timestamp"]),
    )


def _transaction(session: Session, tx_id: str, action: str, state: str) -> dict[str, Any]:
    from network.audit import transaction_record

    with mapped_errors():
        r = transaction_record(session.network, tx_id)
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
