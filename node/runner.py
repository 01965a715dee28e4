"""The job runner: from "the ledger says something happened to job J" to a receipt (or a failure).

For a job where this org is a participant, `handle(job_id)`:

1. re-reads J from the ledger (the event was a hint) and runs the approval gate on it, with the
   fingerprints of this org's inputs (a quick check: cached by file size and mtime);
2. claims its part (ClaimJob), records the run in the node store *before* anything runs (so a
   restarted node never runs the same run twice), re-reads J;
3. reads its input columns and fingerprints each dataset in the same single pass, gates again with
   those fingerprints and the claimed run (so the data the protocol gets is exactly the data whose
   fingerprint matched the one the job pinned), then runs the protocol with its peers
   (`ProtocolHost`), bounded by the job deadline;
4. stages the outputs it is a recipient of and submits its receipt (output digests, transcript
   digest, input fingerprints, engine version); the staged outputs are delivered (one rename) only
   once the ledger judges the run COMPLETED, and discarded if it ends DISPUTED or FAILED or is not
   judged within the job deadline;
5. on any error reports FailJob with a coded reason (node/failures.py: a code, its own input, a
   row, a peer — never the error's text) and delivers nothing; the full detail goes to the node's
   local failure log (node/failure_log.py), which `alliance job why JOB` reads.

Handling is serialised per job (one worker at a time per job; an event arriving meanwhile makes
the worker look once more when done). Jobs run concurrently with each other.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from alliance.canonical import sha256_digest
from alliance.failures import FailureReport
from alliance.models import Job, JobState
from network.errors import CommitError, ContractRejected, NetworkError
from node import failure_log
from node.errors import DatasetError, GateRefused, NodeError
from node.failures import NODE_STOPPED, classify
from node.gate import check_job
from node.ledger import JobLedger
from node.linked_inputs import fetch_linked, linked_inputs
from node.mpc.protocol import InputRef, JobContext, LocalInputs, ProtocolResult
from node.outputs import PendingOutputs, stage_outputs
from node.sources import file_path_of, open_source
from node.store import NodeStore

log = logging.getLogger("node.runner")

CLAIM_ATTEMPTS = 5
VERDICT_POLL_SECONDS = 0.1
"""How often a node holding staged outputs re-reads the job for the run's verdict."""
OUTCOMES_KEPT = 200
UNFINISHED = ("claimed", "running")


def engine_version() -> str:
    try:
        return f"alliance-node/{version('alliance')}"
    except PackageNotFoundError:
        return "alliance-node/0+unknown"


class ProtocolHost(Protocol):
    """Runs this party's side of a job's protocol with the other participants' nodes."""

    def run_protocol(
        self, job: JobContext, run: int, inputs: LocalInputs, deadline_seconds: float
    ) -> tuple[ProtocolResult, str]:
        """(result, transcript digest); raises on failure or when the deadline passes."""
        ...


def job_context(job: Job) -> JobContext:
    return JobContext(
        job_id=job.id,
        protocol=job.protocol,
        parameters=dict(job.parameters),
        inputs=tuple(InputRef.parse(i.ref) for i in job.inputs),
        outputs={name: tuple(orgs) for name, orgs in job.outputs.items()},
        participants=tuple(job.participants),
        dealer=job.dealer,
    )


def run_verdict(job: Job, run: int) -> JobState | None:
    """How the ledger ended `run`: COMPLETED, DISPUTED, or FAILED; None while it is open. Pure."""
    result = job.results.get(str(run))
    if result is not None:
        return result.state
    if job.state == JobState.RUNNING and job.current_run == run:
        return None
    return JobState.FAILED  # the run ended without a verdict (failed, or the job moved on)


class FingerprintCache:
    """Fingerprints of local sources, recomputed when a file's size or mtime changes.

    Only the pre-claim gate uses it (to refuse early and cheaply). A run never relies on it: the
    data a run uses is fingerprinted as it is read (`read_columns_verified`).
    """

    def __init__(self) -> None:
        self._cache: dict[str, tuple[int, int, str]] = {}
        self._lock = threading.Lock()

    def fingerprint(self, location: str) -> str:
        stamp: tuple[int, int] | None = None
        if "://" not in location:
            try:
                st = os.stat(file_path_of(location))
            except OSError as exc:
                raise DatasetError(f"cannot read {location}: {exc.strerror}") from exc
            stamp = (st.st_size, st.st_mtime_ns)
            with self._lock:
                cached = self._cache.get(location)
            if cached is not None and cached[:2] == stamp:
                return cached[2]
        value = open_source(location).fingerprint().fingerprint
        if stamp is not None:
            with self._lock:
                self._cache[location] = (*stamp, value)
        return value


@dataclass
class Outcome:
    """What `handle` did, for logs and tests."""

    job_id: str
    action: str
    """ignored | busy | skipped | refused | done | failed"""
    run: int = 0
    detail: str = ""


class JobRunner:
    def __init__(
        self,
        org: str,
        store: NodeStore,
        ledger: JobLedger,
        host: ProtocolHost,
        outputs_root: Path,
        *,
        ledger_engine: str = "devnet",
        job_deadline: float = 120.0,
        clock: Callable[[], float] = time.time,
        workers: int = 4,
        failure_dir: Path | None = None,
    ) -> None:
        self.org = org
        self.store = store
        self.ledger = ledger
        self.host = host
        self.outputs_root = Path(outputs_root)
        self.ledger_engine = ledger_engine
        self.job_deadline = job_deadline
        self.clock = clock
        self.fingerprints = FingerprintCache()
        self.failure_dir = Path(failure_dir) if failure_dir else self.outputs_root.parent
        """Where the local failure log lives (the node's directory)."""
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"job-{org}")
        self._lock = threading.Lock()
        self._busy: set[str] = set()
        self._again: set[str] = set()
        self._closed = False
        self._stopping = threading.Event()
        self._holders: set[threading.Thread] = set()
        self.outcomes: deque[Outcome] = deque(maxlen=OUTCOMES_KEPT)

    # ---- scheduling ----------------------------------------------------------------------------

    def submit(self, job_id: str) -> Future[None] | None:
        """Handle `job_id` in the background; coalesces with a handler already at work on it."""
        with self._lock:
            if self._closed:
                return None
            if job_id in self._busy:
                self._again.add(job_id)
                return None
            self._busy.add(job_id)
        return self._pool.submit(self._work, job_id)

    def _work(self, job_id: str) -> None:
        while True:
            try:
                outcome = self.handle(job_id)
                self.outcomes.append(outcome)
                log.info("job %s: %s %s", job_id, outcome.action, outcome.detail)
            except Exception:
                log.exception("job %s: handler crashed", job_id)
            with self._lock:
                if job_id in self._again and not self._closed:
                    self._again.discard(job_id)
                    continue
                self._busy.discard(job_id)
                return

    def shutdown(self, wait: bool = True) -> None:
        """Stop handling jobs; outputs still waiting for their run's verdict get one last look
        at the ledger and are delivered if the run is COMPLETED, else discarded."""
        with self._lock:
            self._closed = True
        self._pool.shutdown(wait=wait, cancel_futures=True)
        self._stopping.set()
        if wait:
            self.wait_held()

    def wait_held(self, timeout: float | None = None) -> bool:
        """Wait until no staged outputs wait for a verdict; False if some still do at `timeout`."""
        stop_at = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._lock:
                holders = list(self._holders)
            if not holders:
                return True
            for thread in holders:
                left = None if stop_at is None else max(0.0, stop_at - time.monotonic())
                thread.join(left)
            if stop_at is not None and time.monotonic() >= stop_at:
                with self._lock:
                    return not self._holders

    def recover(self) -> None:
        """At start: report runs a previous process left unfinished, then look at every live job
        of this org (so an event missed while the node was down is not lost)."""
        for record in self.store.runs():
            if record.state not in UNFINISHED:
                continue
            reason = f"{self.org}'s node stopped during run {record.run}; the run was abandoned"
            self.store.record_run(record.job_id, record.run, "failed", reason)
            self._log_failure(record.job_id, record.run, NODE_STOPPED, reason)
            try:
                job = self.ledger.get_job(record.job_id)
                if (job.state in (JobState.RUNNING, JobState.FAILED)
                        and job.current_run == record.run and self.org not in job.failures):
                    self.ledger.fail(record.job_id, NODE_STOPPED)
            except (NetworkError, NodeError) as exc:
                log.warning("job %s: could not report the abandoned run: %s", record.job_id, exc)
        try:
            jobs = self.ledger.participant_jobs(self.org)
        except NetworkError as exc:
            log.warning("could not list this org's jobs: %s", exc)
            return
        for job in jobs:
            if job.state in (JobState.APPROVED, JobState.RUNNING):
                self.submit(job.id)

    # ---- one job -------------------------------------------------------------------------------

    def handle(self, job_id: str) -> Outcome:
        job = self.ledger.get_job(job_id)
        if self.org not in job.participants or job.state not in (
            JobState.APPROVED, JobState.RUNNING
        ):
            return Outcome(job_id, "ignored", job.current_run, f"{job.state}")
        if job.state == JobState.RUNNING and self.org in job.claims:
            run = job.current_run
            if self.store.get_run(job_id, run) is not None:
                return Outcome(job_id, "skipped", run, "this run was already handled here")
            self.store.record_run(job_id, run, "claimed", job.claims[self.org].tx_id)
            return self._run(job_id, run, job.claims[self.org].tx_id)
        if job.state == JobState.RUNNING and self.store.get_run(job_id, job.current_run):
            return Outcome(job_id, "skipped", job.current_run, "this run was already handled here")
        try:
            check_job(job, self.org, int(self.clock()), self._local_fingerprints(job),
                      linked=fetch_linked(self.ledger, job))
        except GateRefused as exc:
            return self._refuse(job, exc)
        claimed = self._claim(job_id)
        if claimed is None:
            return Outcome(job_id, "ignored", job.current_run, "no longer claimable")
        job, claim_tx = claimed
        run = job.current_run
        if self.store.get_run(job_id, run) is not None:
            return Outcome(job_id, "skipped", run, "this run was already handled here")
        self.store.record_run(job_id, run, "claimed", claim_tx)
        return self._run(job_id, run, claim_tx)

    def _claim(self, job_id: str) -> tuple[Job, str] | None:
        for _ in range(CLAIM_ATTEMPTS):
            try:
                return self.ledger.claim(job_id)
            except (ContractRejected, CommitError) as exc:
                job = self.ledger.get_job(job_id)
                if job.state == JobState.RUNNING and self.org in job.claims:
                    return job, job.claims[self.org].tx_id
                if job.state not in (JobState.APPROVED, JobState.RUNNING):
                    log.info("job %s: claim refused (%s); it is %s now", job_id, exc, job.state)
                    return None
                time.sleep(0.05)
        return None

    def _refuse(self, job: Job, exc: GateRefused) -> Outcome:
        """The gate refused a live job this org takes part in: say so on the ledger (coded)."""
        run = job.current_run if job.state == JobState.RUNNING else job.runs_used + 1
        reason = str(exc)
        log.warning("%s refused to run %s: %s", self.org, job.id, reason)
        self.store.record_run(job.id, run, "refused", reason)
        report = classify(exc, self.org, self._own_refs(job))
        self._log_failure(job.id, run, report, failure_log.describe(exc))
        if self.org not in job.failures:
            try:
                self.ledger.fail(job.id, report)
            except (ContractRejected, CommitError) as exc:
                log.info("job %s: FailJob not accepted: %s", job.id, exc)
        return Outcome(job.id, "refused", run, reason)

    def _run(self, job_id: str, run: int, claim_tx: str) -> Outcome:
        pending = None
        job = None
        try:
            job = self.ledger.get_job(job_id)
            inputs, fingerprints = self._load_inputs(job)
            linked = fetch_linked(self.ledger, job)
            check_job(job, self.org, int(self.clock()), fingerprints, claimed_run=run,
                      linked=linked)
            inputs = {**inputs, **linked_inputs(self.outputs_root, self.org, job, linked)}
            self.store.record_run(job_id, run, "running", claim_tx)
            deadline = min(self.job_deadline, max(1.0, job.expires_at - self.clock()))
            result, transcript = self.host.run_protocol(job_context(job), run, inputs, deadline)
            mine = job.recipients_of(self.org)
            missing = [name for name in mine if name not in result.outputs]
            if missing:
                raise NodeError(f"the protocol produced no {', '.join(missing)} for {self.org}")
            own_fps = {d: fp for d, fp in fingerprints.items()
                       if any(i.dataset == d and i.owner == self.org for i in job.inputs)}
            staged = {n: result.outputs[n] for n in mine}
            digests = {n: sha256_digest(data) for n, data in staged.items()}
            pending = None if not staged else stage_outputs(
                self.outputs_root, job_id, run, staged,
                {
                    "org": self.org,
                    "protocol": job.protocol,
                    "parameters": dict(job.parameters),
                    "claim_tx": claim_tx,
                    "ledger_engine": self.ledger_engine,
                    "engine_version": engine_version(),
                    "transcript_digest": transcript,
                    "input_fingerprints": own_fps,
                },
            )
            receipt = {
                "run": run,
                "output_digests": digests,
                "transcript_digest": transcript,
                "input_fingerprints": own_fps,
                "engine_version": engine_version(),
            }
            after, receipt_tx = self.ledger.submit_receipt(job_id, receipt)
            detail = f"receipt {receipt_tx}; job {after.state}"
            self.store.record_run(job_id, run, "done", detail)
            if pending is not None:
                held, pending = pending, None
                detail += "; " + self._hold(after, run, held, receipt_tx, detail)
            return Outcome(job_id, "done", run, detail)
        except Exception as exc:  # every failure becomes a coded reason on the ledger
            if pending is not None:
                pending.discard()
            reason = failure_log.describe(exc)
            report = classify(exc, self.org, self._own_refs(job) if job is not None else set())
            self.store.record_run(job_id, run, "failed", reason)
            self._log_failure(job_id, run, report, reason)
            try:
                self.ledger.fail(job_id, report)
            except (ContractRejected, CommitError, NetworkError) as fail_exc:
                log.warning("job %s: could not report the failure: %s", job_id, fail_exc)
            return Outcome(job_id, "failed", run, reason)

    def _own_refs(self, job: Job) -> set[str]:
        """This org's input references and datasets of `job`: all a failure report may name."""
        return {i.ref for i in job.inputs if i.owner == self.org} | set(self._own_datasets(job))

    def _log_failure(self, job_id: str, run: int, report: FailureReport, detail: str) -> None:
        entry = failure_log.FailureEntry(
            job_id=job_id, run=run, at=int(self.clock()), code=report.code.value,
            input=report.input, row=report.row, peer=report.peer, detail=detail,
        )
        try:
            failure_log.record(self.failure_dir, entry)
        except OSError as exc:
            log.error("job %s: could not write the local failure log: %s", job_id, exc)

    # ---- outputs waiting for the run's verdict -----------------------------------------------

    def _hold(
        self, job: Job, run: int, pending: PendingOutputs, receipt_tx: str, detail: str
    ) -> str:
        """Deliver `pending` now if the run is already judged, else watch the ledger for it."""
        verdict = run_verdict(job, run)
        if verdict is not None:
            return self._settle(job, run, verdict, pending, receipt_tx, detail)
        wait = max(1.0, min(self.job_deadline, job.expires_at - self.clock()))
        thread = threading.Thread(
            target=self._await_verdict,
            args=(job.id, run, pending, receipt_tx, detail, time.monotonic() + wait),
            name=f"held-{job.id}-{run}",
            daemon=True,
        )
        with self._lock:  # started under the lock, so `wait_held` never sees it unstarted
            self._holders.add(thread)
            thread.start()
        return "outputs held until the run is judged"

    def _await_verdict(
        self, job_id: str, run: int, pending: PendingOutputs, receipt_tx: str, detail: str,
        stop_at: float,
    ) -> None:
        try:
            while True:
                last_look = self._stopping.wait(VERDICT_POLL_SECONDS)
                try:
                    job = self.ledger.get_job(job_id)
                except (NetworkError, NodeError) as exc:
                    log.warning("job %s: could not re-read it for run %s's verdict: %s",
                                job_id, run, exc)
                else:
                    verdict = run_verdict(job, run)
                    if verdict is not None:
                        self._settle(job, run, verdict, pending, receipt_tx, detail)
                        return
                if last_look or time.monotonic() >= stop_at:
                    why = "the node stopped" if last_look else "the job deadline passed"
                    pending.discard()
                    text = f"outputs discarded: {why} before run {run} was judged"
                    log.warning("job %s: %s", job_id, text)
                    self.store.record_run(job_id, run, "done", f"{detail}; {text}")
                    return
        except Exception:
            pending.discard()
            log.exception("job %s: waiting for run %s's verdict crashed; outputs discarded",
                          job_id, run)
        finally:
            with self._lock:
                self._holders.discard(threading.current_thread())

    def _settle(
        self, job: Job, run: int, verdict: JobState, pending: PendingOutputs, receipt_tx: str,
        detail: str,
    ) -> str:
        """Deliver the staged outputs of a COMPLETED run; discard those of any other."""
        if verdict == JobState.COMPLETED:
            try:
                folder = pending.deliver(
                    receipt_tx=receipt_tx,
                    completed_tx=job.results[str(run)].tx_id,
                    delivered_at=int(self.clock()),
                )
            except (NodeError, OSError) as exc:
                pending.discard()
                text = f"outputs not delivered: {exc}"
                log.error("job %s: %s", job.id, text)
            else:
                text = f"outputs in {folder}"
        else:
            pending.discard()
            text = f"outputs discarded: run {run} ended {verdict}"
            log.warning("job %s: %s", job.id, text)
        self.store.record_run(job.id, run, "done", f"{detail}; {text}")
        return text

    # ---- local data ----------------------------------------------------------------------------

    def _own_datasets(self, job: Job) -> list[str]:
        return sorted({i.dataset for i in job.inputs if i.owner == self.org})

    def _local_fingerprints(self, job: Job) -> dict[str, str]:
        """`org/name` -> fingerprint of the local data now; raises GateRefused if unreadable."""
        found: dict[str, str] = {}
        for dataset_id in self._own_datasets(job):
            name = dataset_id.split("/", 1)[1]
            try:
                local = self.store.get_dataset(name)
            except DatasetError:
                continue  # the gate names the missing dataset
            try:
                found[dataset_id] = self.fingerprints.fingerprint(local.location)
            except DatasetError as exc:
                raise GateRefused(f"local data of {dataset_id} cannot be read: {exc}",
                                  code="input_unreadable", input_ref=dataset_id) from exc
        return found

    def _load_inputs(self, job: Job) -> tuple[LocalInputs, dict[str, str]]:
        """This org's input columns and, from the same pass over each dataset, its fingerprint
        (`org/name` -> fingerprint; a dataset missing from the store is left for the gate)."""
        inputs: dict[str, np.ndarray] = {}
        found: dict[str, str] = {}
        for dataset_id in self._own_datasets(job):
            items = [i for i in job.inputs if i.dataset == dataset_id and i.owner == self.org]
            try:
                local = self.store.get_dataset(dataset_id.split("/", 1)[1])
            except DatasetError:
                continue  # the gate names the missing dataset
            try:
                columns, fp = open_source(local.location).read_columns_verified(
                    [i.column for i in items]
                )
            except DatasetError as exc:
                raise GateRefused(f"local data of {dataset_id} cannot be read: {exc}",
                                  code="input_unreadable", input_ref=dataset_id) from exc
            found[dataset_id] = fp.fingerprint
            for item in items:
                inputs[item.ref] = columns[item.column]
        return inputs, found


def describe_outcomes(outcomes: Iterable[Outcome]) -> list[dict[str, Any]]:
    return [o.__dict__.copy() for o in outcomes]
