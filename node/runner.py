"""The job runner: from "the ledger says something happened to job J" to a receipt (or a failure).

For a job where this org is a participant, `handle(job_id)`:

1. re-reads J from the ledger (the event was a hint) and runs the approval gate on it, with the
   fingerprints of this org's inputs (a quick check: cached by file size and mtime);
2. claims its part (ClaimJob), records the run in the node store *before* anything runs (so a
   restarted node never runs the same run twice), re-reads J;
3. reads its input columns and fingerprints each dataset in the same single pass, gates again with
   those fingerprints and the claimed run (so the data the protocol gets is exactly the data whose
   fingerprint matched the one the job pinned), then runs the protocol with its peers
   (`ProtocolHost`), bounded by the run's deadline on the ledger; the host connects with the
   peers before the inputs are read, so a party reading a large file keeps its link alive
   instead of making the others time out;
4. stages the outputs it is a recipient of (streamed to files, digested as written), records the
   staged run and its receipt in the node store, then submits the receipt (output digests,
   transcript digest, input fingerprints, engine version); the staged outputs are delivered (one
   rename, digests re-checked against the ledger's) only once the ledger judges the run
   COMPLETED, and deleted if it ends DISPUTED or FAILED;
5. on any error before staging reports FailJob with a coded reason (node/failures.py: a code,
   its own input, a row, a peer — never the error's text) and delivers nothing; the full detail
   goes to the node's local failure log (node/failure_log.py), which `alliance job why JOB`
   reads.

Every run ends: a run past its deadline is expired (ExpireRun) by the node that holds its staged
outputs, and by `expire_overdue` (called periodically by the daemon) for any RUNNING job of this
org. A node that stops leaves its staged runs in place; `recover()` at the next start submits
the receipts that were not committed, and delivers or deletes each staged run by the ledger's
verdict (holding it until there is one); staging directories the store does not know are deleted.

Handling is serialised per job (one worker at a time per job; an event arriving meanwhile makes
the worker look once more when done). Jobs run concurrently with each other.
"""

from __future__ import annotations

import json
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

from alliance.canonical import canonical_json
from alliance.failures import FailureCode, FailureReport
from alliance.models import Job, JobState
from alliance.protocols import SERVICE_PROTOCOLS
from alliance.run_deadline import connect_seconds
from network.errors import CommitError, ContractRejected, NetworkError
from node import failure_log
from node.errors import DatasetError, GateRefused, NodeError
from node.failpoint import failpoint
from node.failures import NODE_STOPPED, classify
from node.gate import check_job
from node.ledger import JobLedger
from node.linked_inputs import fetch_linked, linked_inputs
from node.mpc.protocol import InputRef, JobContext, LocalInputs, ProtocolResult
from node.outputs import MANIFEST, PendingOutputs, run_dir, stage_outputs, sweep_staging
from node.sources import file_path_of, open_source
from node.store import SETTLED, NodeStore

log = logging.getLogger("node.runner")

CLAIM_ATTEMPTS = 5
VERDICT_POLL_SECONDS = 0.1
"""How often a node holding staged outputs re-reads the job for the run's verdict (at first)."""
VERDICT_POLL_MAX = 1.0
"""... backing off to this after a while."""
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
        self, job: JobContext, run: int, prepare: Callable[[], LocalInputs],
        deadline_seconds: float, *, peer_prepare_seconds: float = 0.0,
    ) -> tuple[ProtocolResult, str]:
        """(result, transcript digest); raises on failure or when the deadline passes.

        Connects with the peers first (waiting `peer_prepare_seconds` longer than usual: a peer
        fingerprints its large input before it claims), then calls `prepare()` (reads and
        checks this party's inputs; may take minutes for a large file, and may raise) while
        the links stay up, so that no peer times out waiting for a party reading its data."""
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

    def drain(self, timeout: float) -> bool:
        """Take no new job; wait up to `timeout` seconds for the jobs at work and the staged
        outputs waiting for a verdict. Queued jobs not started are dropped: the ledger still
        lists them, and `recover` at the next start submits them. False if work remained."""
        stop_at = time.monotonic() + timeout
        with self._lock:
            self._closed = True
        waiter = threading.Thread(target=self._pool.shutdown,
                                  kwargs={"wait": True, "cancel_futures": True},
                                  name=f"drain-{self.org}", daemon=True)
        waiter.start()
        waiter.join(timeout)
        if waiter.is_alive():
            return False
        return self.wait_held(max(0.0, stop_at - time.monotonic()))

    def shutdown(self, wait: bool = True) -> None:
        """Stop handling jobs; runs waiting for their verdict stay staged (the store and the
        staging directory keep them) and the next start finishes them."""
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
        """At start: finish the runs a previous process staged (receipt, then delivery or
        deletion by the verdict), report the runs it left unfinished before staging, delete
        staging directories nobody knows, then look at every live job of this org (so an event
        missed while the node was down is not lost)."""
        for record in self.store.runs():
            if record.state not in UNFINISHED:
                continue
            if self.store.get_staged(record.job_id, record.run) is not None:
                self.store.record_run(record.job_id, record.run, "done",
                                      "protocol finished before the node stopped; run staged")
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
        unsettled = self.store.unsettled()
        for path in sweep_staging(self.outputs_root, {(s.job_id, s.run) for s in unsettled}):
            log.warning("deleted %s: staged outputs no run record points to", path)
        for staged in unsettled:
            self._finish(staged.job_id, staged.run)
        try:
            jobs = self.ledger.participant_jobs(self.org)
        except NetworkError as exc:
            log.warning("could not list this org's jobs: %s", exc)
            return
        for job in jobs:
            if job.state in (JobState.APPROVED, JobState.RUNNING):
                self.submit(job.id)

    def expire_overdue(self) -> list[str]:
        """Expire every RUNNING run of this org's jobs whose deadline passed; the job ids."""
        expired: list[str] = []
        now = int(self.clock())
        for job in self.ledger.running_jobs():
            if self.org not in job.participants or not job.run_deadline:
                continue
            if now >= job.run_deadline and self._expire(job) is not None:
                expired.append(job.id)
        return expired

    def _expire(self, job: Job) -> Job | None:
        """ExpireRun on `job`'s current run; the job after, or None if the ledger refused."""
        try:
            after, _tx = self.ledger.expire_run(job.id)
        except (ContractRejected, CommitError) as exc:
            log.info("job %s: ExpireRun not accepted: %s", job.id, exc)
            return None
        log.warning("job %s: run %s expired: %s", job.id, job.current_run,
                    after.failures.get(self.org).reason if self.org in after.failures else "")
        return after

    # ---- one job -------------------------------------------------------------------------------

    def handle(self, job_id: str) -> Outcome:
        job = self.ledger.get_job(job_id)
        if job.protocol in SERVICE_PROTOCOLS:
            return Outcome(job_id, "ignored", 0, "a standing service job: its servers serve it")
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
                      voters=self._voters(job), linked=fetch_linked(self.ledger, job))
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

    def _voters(self, job: Job) -> list[str]:
        """The charter's voting members, read only for a job that needs member votes."""
        return self.ledger.charter_voters() if job.votes_needed else []

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
            self.store.record_run(job_id, run, "running", claim_tx)
            fingerprints: dict[str, str] = {}

            def prepare() -> LocalInputs:
                inputs, found = self._load_inputs(job)
                linked = fetch_linked(self.ledger, job)
                check_job(job, self.org, int(self.clock()), found, claimed_run=run,
                          voters=self._voters(job), linked=linked)
                fingerprints.update(found)
                return {**inputs, **linked_inputs(self.outputs_root, self.org, job, linked)}

            result, transcript = self.host.run_protocol(
                job_context(job), run, prepare, self._deadline_seconds(job),
                peer_prepare_seconds=self._peer_prepare_seconds(job),
            )
            mine = job.recipients_of(self.org)
            missing = [name for name in mine if name not in result.outputs]
            if missing:
                raise NodeError(f"the protocol produced no {', '.join(missing)} for {self.org}")
            own_fps = {d: fp for d, fp in fingerprints.items()
                       if any(i.dataset == d and i.owner == self.org for i in job.inputs)}
            staged = {n: result.outputs[n] for n in mine}
            del result
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
            del staged
            digests = pending.digests if pending is not None else {}
            receipt = {
                "run": run,
                "output_digests": digests,
                "transcript_digest": transcript,
                "input_fingerprints": own_fps,
                "engine_version": engine_version(),
            }
            self.store.stage_run(job_id, run, canonical_json(receipt).decode(),
                                 json.dumps(digests, sort_keys=True))
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
        self.store.record_run(job_id, run, "done", "protocol finished; run staged")
        failpoint("staged")
        detail = self._finish(job_id, run)
        self.store.record_run(job_id, run, "done", detail)
        return Outcome(job_id, "done", run, detail)

    def _deadline_seconds(self, job: Job) -> float:
        """Seconds the protocol may run: to the run's deadline on the ledger (or, for a job from
        before runs had deadlines, the node's job deadline), never past the job's expiry."""
        now = self.clock()
        if job.run_deadline:
            return max(1.0, job.run_deadline - now)
        return min(self.job_deadline, max(1.0, job.expires_at - now))

    def _peer_prepare_seconds(self, job: Job) -> float:
        """How much longer than usual peers may take to link up: what fingerprinting the largest
        input a peer holds may take (its row count on the ledger; alliance/run_deadline.py)."""
        rows = []
        for dataset_id in sorted({i.dataset for i in job.inputs if i.owner != self.org}):
            try:
                rows.append(self.ledger.dataset_rows(dataset_id))
            except (NetworkError, NodeError) as exc:
                log.warning("job %s: row count of %s unknown (%s)", job.id, dataset_id, exc)
        return connect_seconds(rows, 0.0)

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

    # ---- staged runs: receipt, verdict, delivery ------------------------------------------------

    def _finish(self, job_id: str, run: int) -> str:
        """Advance a staged run as far as the ledger allows now; if its verdict is still open
        (or the ledger unreachable), keep watching in a thread of its own."""
        try:
            text = self._advance(job_id, run)
        except (NetworkError, NodeError) as exc:
            log.warning("job %s: run %s waits for the ledger: %s", job_id, run, exc)
            text = None
        if text is not None:
            return text
        thread = threading.Thread(target=self._await_verdict, args=(job_id, run),
                                  name=f"held-{job_id}-{run}", daemon=True)
        with self._lock:  # started under the lock, so `wait_held` never sees it unstarted
            if self._stopping.is_set():
                return "run staged; the node stops: the next start finishes it"
            self._holders.add(thread)
            thread.start()
        return "receipt staged; outputs held until the run is judged"

    def _advance(self, job_id: str, run: int) -> str | None:
        """One look: submit the receipt if not committed, expire the run if overdue, deliver or
        delete the staged outputs once judged. The settled detail, or None while open."""
        record = self.store.get_staged(job_id, run)
        if record is None:
            return "nothing staged"
        if record.state in SETTLED:
            return record.detail
        job = self.ledger.get_job(job_id)
        mine = job.receipts.get(str(run), {}).get(self.org)
        if record.state == "staged" and mine is not None:  # committed, but the answer was lost
            record = self.store.update_staged(job_id, run, "receipted", receipt_tx=mine.tx_id)
        verdict = run_verdict(job, run)
        if verdict is None and record.state == "staged" and not self._overdue(job):
            try:
                job, receipt_tx = self.ledger.submit_receipt(job_id,
                                                             json.loads(record.receipt_json))
            except ContractRejected as exc:
                job = self.ledger.get_job(job_id)
                mine = job.receipts.get(str(run), {}).get(self.org)
                if mine is None and run_verdict(job, run) is None and not self._overdue(job):
                    detail = f"the ledger refused this node's receipt: {exc}"
                    log.error("job %s: %s", job_id, detail)
                    report = FailureReport(code=FailureCode.RECEIPT_REFUSED)
                    self._log_failure(job_id, run, report, detail)
                    job, _ = self.ledger.fail(job_id, report)
                receipt_tx = mine.tx_id if mine is not None else ""
            if receipt_tx:
                record = self.store.update_staged(job_id, run, "receipted", receipt_tx=receipt_tx)
                failpoint("receipted")
            verdict = run_verdict(job, run)
        if verdict is None and self._overdue(job):
            job = self._expire(job) or self.ledger.get_job(job_id)
            verdict = run_verdict(job, run)
        if verdict is None:
            return None
        failpoint("judged")
        return self._settle(job, run, verdict, record.receipt_tx)

    def _overdue(self, job: Job) -> bool:
        return bool(job.run_deadline) and self.clock() >= job.run_deadline

    def _await_verdict(self, job_id: str, run: int) -> None:
        wait = VERDICT_POLL_SECONDS
        try:
            while not self._stopping.wait(wait):
                wait = min(VERDICT_POLL_MAX, wait * 1.1)
                try:
                    if self._advance(job_id, run) is not None:
                        return
                except (NetworkError, NodeError) as exc:
                    log.warning("job %s: run %s waits for the ledger: %s", job_id, run, exc)
            log.info("job %s: run %s left staged; the next start finishes it", job_id, run)
        except Exception:
            log.exception("job %s: waiting for run %s's verdict crashed; it stays staged for the "
                          "next start", job_id, run)
        finally:
            with self._lock:
                self._holders.discard(threading.current_thread())

    def _settle(self, job: Job, run: int, verdict: JobState, receipt_tx: str) -> str:
        """Deliver the staged outputs of a COMPLETED run (digests re-checked against the
        ledger's); delete those of any other. Records the outcome."""
        pending = PendingOutputs.find(self.outputs_root, job.id, run)
        final = run_dir(self.outputs_root, job.id, run)
        record = self.store.get_staged(job.id, run)
        expected = json.loads(record.digests_json) if record is not None else {}
        if verdict == JobState.COMPLETED:
            result = job.results[str(run)]
            if not expected:
                state, text = "done", f"run {run} COMPLETED; nothing to deliver here"
            elif pending is None and (final / MANIFEST).exists():
                state, text = "delivered", f"outputs in {final}"  # delivered before a restart
            elif pending is None:
                state, text = "discarded", "outputs not delivered: the staged files are gone"
                log.error("job %s: %s", job.id, text)
            else:
                try:
                    folder = pending.deliver(
                        agreed=result.output_digests, receipt_tx=receipt_tx,
                        completed_tx=result.tx_id, delivered_at=int(self.clock()),
                    )
                except (NodeError, OSError) as exc:
                    pending.discard()
                    state, text = "discarded", f"outputs not delivered: {exc}"
                    log.error("job %s: %s", job.id, text)
                else:
                    state, text = "delivered", f"outputs in {folder}"
        else:
            if pending is not None:
                pending.discard()
            state = "discarded" if expected else "done"
            text = (f"outputs discarded: run {run} ended {verdict}" if expected
                    else f"run {run} ended {verdict}")
            log.warning("job %s: %s", job.id, text)
        if record is not None:
            self.store.update_staged(job.id, run, state, detail=text)
        self.store.record_run(job.id, run, "done", text)
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
