"""Audit use cases: a job's trail (every transaction, its signer and block), a result file checked
against the digest on the ledger, the whole ledger checked (`audit chain`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alliance.app.errors import BadInput, FileMissing, mapped_errors
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
