"""The member node daemon: MPC server, ledger listener and job runner, with explicit start/stop.

`NodeDaemon(net_dir, org).start()` connects to the ledger as the org's `node` identity, serves
MPC links on the org's node endpoint (port 0: the port of its previous run if free, else any free
port) and records `{pid, port}` in NET/run/node-<org>.json, where peers look it up. Then it
reports runs a previous process left unfinished (and finishes the runs it staged), looks at every
live job of the org, follows the ledger's events, and every OVERDUE_POLL seconds expires the runs
of the org's jobs that are past their deadline. `shutdown()` stops them all. The gRPC server lives
on an asyncio loop in a thread of its own; ledger calls and job handling run in ordinary threads.

Shutdown never waits on a job: it aborts every open MPC run with "node shutting down" (the peers
learn why), gives the runs a moment to wind down, cancels what is left on the loop, and only then
stops the loop. Every wait of a job thread on the loop has a deadline (the job deadline plus the
time a transport may take to close), and a call made once shutdown began fails at once, so no
thread is left waiting for a loop that no longer runs.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from alliance.profile import load_profile
from node.errors import DeadlineExceeded, ProtocolAborted, TransportError
from node.failpoint import failpoint
from node.failures import public_abort_reason
from node.ledger import GatewayJobLedger
from node.listener import LedgerListener
from node.mpc.grpc_transport import ClientTls, GrpcTransport, MpcServer, PeerEndpoint, ServerTls
from node.mpc.protocol import JobContext, LocalInputs, ProtocolResult
from node.mpc.registry import execute, get_protocol
from node.paths import node_run_file, node_store_path, outputs_dir
from node.peer_auth import PeerAuthorizer, ledger_authorities, ledger_revocations
from node.peer_orgs import TlsOrgs, node_common_name
from node.runner import JobRunner
from node.store import NodeStore

log = logging.getLogger("node.daemon")

SHUTDOWN_REASON = "node shutting down"
SHUTDOWN_GRACE = 5.0
"""Seconds shutdown waits for aborted runs to close their transports before cancelling them."""
OVERDUE_POLL = 2.0
"""Seconds between two looks for RUNNING jobs of this org past their run deadline."""
CLOSE_ALLOWANCE = 10.0
"""Seconds past the job deadline a job thread waits for a run to close its transport."""


def read_run_file(net_dir: Path, org: str) -> dict[str, Any] | None:
    """`{pid, port, ...}` the org's node recorded, or None."""
    try:
        data = json.loads(node_run_file(net_dir, org).read_text())
        return data if isinstance(data, dict) and "port" in data else None
    except (OSError, ValueError):
        return None


def _write_run_file(net_dir: Path, org: str, data: dict[str, Any]) -> None:
    path = node_run_file(net_dir, org)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp-{os.getpid()}")
    tmp.write_text(json.dumps(data, sort_keys=True) + "\n")
    os.replace(tmp, path)


T = TypeVar("T")

class NodeDaemon:
    """One member's node. Use `start()` / `shutdown()` (or `with`)."""

    def __init__(
        self,
        net_dir: Path,
        org: str,
        passphrase: bytes | None = None,
        *,
        step_timeout: float = 30.0,
        connect_timeout: float = 15.0,
        job_deadline: float = 120.0,
    ) -> None:
        self.net_dir = Path(net_dir).resolve()
        self.org = org
        self.passphrase = passphrase
        self.step_timeout = step_timeout
        self.connect_timeout = connect_timeout
        self.job_deadline = job_deadline
        profile = load_profile(self.net_dir)
        if org not in profile.orgs or "member" not in profile.orgs[org].roles:
            members = [o for o in profile.member_orgs() if "member" in profile.orgs[o].roles]
            raise TransportError(
                f"{org!r} is not a member org of {self.net_dir}; nodes run for: "
                f"{', '.join(members)}"
            )
        self.profile = profile
        self.store = NodeStore(node_store_path(self.net_dir, org))
        self.tls_orgs = TlsOrgs.from_network(self.net_dir)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: threading.Thread | None = None
        self._conn: Any = None
        self.server: MpcServer | None = None
        self.runner: JobRunner | None = None
        self.listener: LedgerListener | None = None
        self.authorizer: PeerAuthorizer | None = None
        self._client_tls: ClientTls | None = None
        self._roots_stamp = b""
        self._roots_pem = b""
        self._ledger: GatewayJobLedger | None = None
        self._endpoint = ""
        self._stopping = threading.Event()
        self._runs: set[concurrent.futures.Future[Any]] = set()
        self._runs_lock = threading.Lock()
        self._reconnect_lock = threading.Lock()
        self._watchdog: threading.Thread | None = None
        self._reshare: Any = None

    # ---- lifecycle -----------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return self.server.port if self.server is not None else 0

    def start(self) -> NodeDaemon:
        from alliance.wallet import user_tls
        from network.connection import connect_member, current_engine, gateway_endpoint

        try:
            tls = user_tls(self.net_dir, self.org, "node", self.passphrase)
            self._client_tls = ClientTls(tls.cert_chain, tls.private_key)
            self._endpoint = gateway_endpoint(self.net_dir, self.org)[0]
            self._conn = connect_member(self.net_dir, self.org, "node", self.passphrase)
            ledger = GatewayJobLedger(self._conn.contract)
            self._ledger = ledger
            self.authorizer = PeerAuthorizer(
                self.org, self.tls_orgs, self._following_the_ledger(ledger.get_job),
                self._following_the_ledger(ledger_revocations(ledger)),
                read_authorities=self._following_the_ledger(ledger_authorities(ledger)),
            )
            self._start_loop()
            self.server = self._start_server(
                ServerTls(tls.cert_chain, tls.private_key, tls.root_certs,
                          current_client_roots=self._client_roots)
            )
            self.runner = JobRunner(
                self.org, self.store, ledger, self, outputs_dir(self.net_dir, self.org),
                ledger_engine=current_engine(self.net_dir), job_deadline=self.job_deadline,
            )
            self.runner.recover()
            self.listener = LedgerListener(
                self.org, self._conn.network, self.profile.chaincode, self.store,
                self.runner.submit, reconnect=self._reconnect,
            )
            self.listener.start()
            self._watchdog = threading.Thread(target=self._expire_overdue_runs,
                                              name=f"overdue-{self.org}", daemon=True)
            self._watchdog.start()
            self._reshare = self._start_daily_reshare(ledger)
            failpoint("started")
            # last: the launcher takes this node as ready once the run file names its pid
            _write_run_file(self.net_dir, self.org, {
                "pid": os.getpid(), "port": self.server.port, "org": self.org,
                "started_at": int(time.time()),
            })
        except BaseException:
            self.shutdown()
            raise
        log.info("node %s serves MPC on port %s", self.org, self.port)
        return self

    def drain(self, timeout: float) -> bool:
        """Start no new job and wait up to `timeout` seconds for the runs in progress (and their
        staged outputs' verdicts) to end, so a restart loses none; False if some still ran.
        `shutdown` follows: what still runs then is aborted as usual."""
        if self.runner is None:
            return True
        return self.runner.drain(timeout)

    def shutdown(self) -> None:
        """Stop listening, abort running jobs, stop the MPC server and its loop. Bounded: never
        waits on a job to finish."""
        self._stopping.set()
        if self._watchdog is not None:
            self._watchdog.join(10)
            self._watchdog = None
        if self._reshare is not None:
            self._reshare.stop()
            self._reshare = None
        if self.listener is not None:
            self.listener.stop()
            self.listener = None
        if self.runner is not None:
            self.runner.shutdown(wait=False)
        loop = self._loop
        if loop is not None and self.server is not None:
            server, self.server = self.server, None
            self._abort_runs(server, loop)
            self._let_runner_report()
            try:
                asyncio.run_coroutine_threadsafe(server.stop(0.5), loop).result(10)
            except Exception as exc:  # stopping is best effort
                log.warning("stopping the MPC server: %s", exc)
        if loop is not None:
            try:
                asyncio.run_coroutine_threadsafe(_cancel_pending(), loop).result(10)
            except Exception as exc:  # best effort: stopping the loop follows regardless
                log.warning("cancelling the MPC loop's tasks: %s", exc)
            loop.call_soon_threadsafe(loop.stop)
            if self._loop_thread is not None:
                self._loop_thread.join(10)
            self._loop = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _start_daily_reshare(self, ledger: GatewayJobLedger) -> Any:
        """The multilender book's daily re-share (node/query/daily_reshare.py); it does nothing
        for an org that never contributed."""
        from node.paths import node_dir
        from node.query.daily_reshare import POLL_ENV, POLL_SECONDS, DailyReshare, live_terms
        from node.query.member_store import MemberStore
        from node.query.service import env_seconds

        def terms() -> Any:
            return live_terms(ledger.participant_jobs(self.org), time.time())

        store = MemberStore(node_dir(self.net_dir, self.org) / "query-member")
        return DailyReshare(self.net_dir, self.org, self.passphrase, store, terms).start(
            env_seconds(POLL_ENV, POLL_SECONDS))

    def _expire_overdue_runs(self) -> None:
        """Every OVERDUE_POLL seconds: expire the RUNNING runs of this org's jobs that are past
        their deadline (so a run whose party died after the protocol still ends)."""
        while not self._stopping.wait(OVERDUE_POLL):
            runner = self.runner
            if runner is None:
                continue
            try:
                expired = runner.expire_overdue()
            except Exception as exc:  # the ledger may be down; look again next time
                log.info("could not look for overdue runs: %s", exc)
                continue
            for job_id in expired:
                log.warning("node %s: expired the overdue run of %s", self.org, job_id)

    def _abort_runs(self, server: MpcServer, loop: asyncio.AbstractEventLoop) -> None:
        """Abort every open run (peers learn why), wait a little for them, cancel the rest."""
        try:
            aborted = asyncio.run_coroutine_threadsafe(
                server.abort_all(SHUTDOWN_REASON), loop
            ).result(SHUTDOWN_GRACE)
            if aborted:
                log.warning("node %s: aborted %d running job(s): %s", self.org, aborted,
                            SHUTDOWN_REASON)
        except Exception as exc:  # best effort: the runs are cancelled below anyway
            log.warning("aborting the running jobs: %s", exc)
        with self._runs_lock:
            runs = list(self._runs)
        _done, pending = concurrent.futures.wait(runs, timeout=SHUTDOWN_GRACE)
        for future in pending:
            future.cancel()  # cancels the task on the loop; the job thread sees CancelledError

    def _let_runner_report(self) -> None:
        """Give the job threads a moment to report their aborted runs on the ledger while the
        connection is still open; never wait longer than SHUTDOWN_GRACE."""
        runner = self.runner
        if runner is None:
            return
        waiter = threading.Thread(target=runner.shutdown, kwargs={"wait": True},
                                  name=f"stop-runner-{self.org}", daemon=True)
        waiter.start()
        waiter.join(SHUTDOWN_GRACE)

    def _following_the_ledger(self, read: Callable[..., T]) -> Callable[..., T]:
        """`read` (a ledger query of the peer check), asked once more after `_reconnect` when it
        fails: a peer may dial before this node's event stream noticed devnet restarting (on
        another port, or on the same one: the old connection then still waits out gRPC's
        reconnect backoff, so an unreachable ledger gets a fresh connection). A second failure
        is raised (the link stays refused: fail closed)."""
        from network.errors import Unavailable

        def call(*args: Any) -> T:
            try:
                return read(*args)
            except Exception as exc:
                self._reconnect(fresh=isinstance(exc, Unavailable))
                return read(*args)

        return call

    def _reconnect(self, fresh: bool = False) -> Any:
        """After the event stream broke, or a peer check's query failed: reconnect if the ledger
        now listens elsewhere (devnet restarted on another port), or always when `fresh`. Calls
        in flight on the old connection fail as they would."""
        with self._reconnect_lock:
            return self._reconnect_locked(fresh)

    def _reconnect_locked(self, fresh: bool = False) -> Any:
        from network.connection import connect_member, gateway_endpoint

        endpoint = gateway_endpoint(self.net_dir, self.org)[0]
        if fresh or endpoint != self._endpoint or self._conn is None:
            conn = connect_member(self.net_dir, self.org, "node", self.passphrase)
            old, self._conn, self._endpoint = self._conn, conn, endpoint
            if self._ledger is not None:
                self._ledger.contract = conn.contract
            if old is not None:
                old.close()
            log.info("reconnected to the ledger at %s", endpoint)
        return self._conn.network

    def __enter__(self) -> NodeDaemon:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    def _start_loop(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._loop_thread = threading.Thread(
            target=loop.run_forever, name=f"mpc-{self.org}", daemon=True
        )
        self._loop_thread.start()

    def _call(self, coro: Any, timeout: float) -> Any:
        """Run `coro` on the MPC loop and wait for it at most `timeout` seconds (then cancel it
        and raise TimeoutError). Refuses at once once shutdown began."""
        loop = self._loop
        if loop is None or self._stopping.is_set():
            coro.close()
            raise TransportError(f"{self.org}'s node is shutting down; the job will not run here")
        future = asyncio.run_coroutine_threadsafe(coro, loop)
        with self._runs_lock:
            self._runs.add(future)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TimeoutError(f"no answer from the MPC loop within {timeout:.0f} s") from None
        except concurrent.futures.CancelledError:
            raise ProtocolAborted(SHUTDOWN_REASON, self.org) from None
        finally:
            with self._runs_lock:
                self._runs.discard(future)

    def _client_roots(self) -> bytes:
        """The TLS roots a dialing node may chain to now: every org's (the orderer org's too,
        as at start), re-read when NET's change."""
        from alliance.msp import MspRegistry

        if self._roots_stamp != (stamp := self.tls_orgs.all_roots_pem()):
            self._roots_stamp = stamp
            self._roots_pem = MspRegistry.from_network(self.net_dir).tls_roots_pem()
        return self._roots_pem

    def _start_server(self, tls: ServerTls) -> MpcServer:
        endpoint = self.profile.orgs[self.org].node
        ports = [endpoint.port]
        if endpoint.port == 0:
            previous = read_run_file(self.net_dir, self.org)
            if previous and int(previous.get("port", 0)):
                ports = [int(previous["port"]), 0]
        error: Exception | None = None
        for port in ports:
            assert self.authorizer is not None
            server = MpcServer(endpoint.host, port, tls, self.authorizer)
            try:
                self._call(server.start(), 30)
                return server
            except Exception as exc:  # port taken: try the next choice
                error = exc
        raise TransportError(
            f"{self.org}'s node cannot listen on {endpoint.host}:{ports[-1]}: {error}"
        )

    # ---- ProtocolHost --------------------------------------------------------------------------

    def peer_endpoint(self, peer: str) -> PeerEndpoint:
        entry = self.profile.orgs.get(peer)
        if entry is None:
            self.profile = load_profile(self.net_dir)
            entry = self.profile.orgs.get(peer)
        if entry is None:
            raise TransportError(f"{peer} is not in the network profile of {self.net_dir}")
        port = entry.node.port
        if port == 0:
            recorded = read_run_file(self.net_dir, peer)
            if recorded is None:
                missing = node_run_file(self.net_dir, peer)
                raise TransportError(
                    f"the node of {peer} has never run here (no {missing}); start it with "
                    f"`alliance node run --dir {self.net_dir} --as {peer}`"
                )
            port = int(recorded["port"])
        # The server must prove to be the peer's node (its TLS certificate names node.<peer>),
        # not another holder of a certificate from the same TLS CA such as its Fabric peer.
        return PeerEndpoint(f"{entry.node.host}:{port}", self.tls_orgs.roots_pem(peer),
                            server_name=node_common_name(peer))

    def run_protocol(
        self, job: JobContext, run: int, prepare: Callable[[], LocalInputs],
        deadline_seconds: float, *, peer_prepare_seconds: float = 0.0,
    ) -> tuple[ProtocolResult, str]:
        # The run ends by its deadline; closing its transport may take a step deadline more.
        limit = deadline_seconds + self.step_timeout + CLOSE_ALLOWANCE
        connect = min(self.connect_timeout + peer_prepare_seconds, deadline_seconds)
        try:
            return self._call(  # type: ignore[no-any-return]
                self._run_protocol(job, run, prepare, deadline_seconds, connect), limit
            )
        except TimeoutError as exc:
            raise DeadlineExceeded(
                f"{self.org}: run {run} of {job.job_id} did not end within {limit:.0f} s "
                f"({exc}); it was cancelled"
            ) from None

    async def _run_protocol(
        self, job: JobContext, run: int, prepare: Callable[[], LocalInputs], deadline: float,
        connect: float,
    ) -> tuple[ProtocolResult, str]:
        """Open the run's links, read the inputs meanwhile (`prepare`, in a thread), say ready,
        then run the protocol; all of it within `deadline` seconds."""
        assert self.server is not None and self._client_tls is not None
        ends_at = time.monotonic() + deadline
        protocol = get_protocol(job.protocol)
        peers = {p: self.peer_endpoint(p) for p in job.participants if p != self.org}
        transport = self.server.transport(
            job.job_id, self.org, job.participants, peers, self._client_tls, run=run,
            step_timeout=min(self.step_timeout, deadline),
            connect_timeout=connect,
        )
        async with transport:
            inputs = await self._prepare(transport, job, run, prepare)
            try:
                await transport.ready(max(1.0, ends_at - time.monotonic()))
                result = await asyncio.wait_for(execute(protocol, job, inputs, transport),
                                                max(1.0, ends_at - time.monotonic()))
            except TimeoutError:
                reason = (f"{self.org}: run {run} of {job.job_id} exceeded its deadline of "
                          f"{deadline:.0f} s")
                await transport.abort(reason)
                raise DeadlineExceeded(reason) from None
        return result, transport.transcript_digest

    async def _prepare(self, transport: GrpcTransport, job: JobContext, run: int,
                       prepare: Callable[[], LocalInputs]) -> LocalInputs:
        """`prepare()` in a thread while the links stay up; a peer's abort meanwhile ends the
        wait at once. A failure here is told to the peers as its public code and message only
        (node/failures.py); the detail stays in this node's failure log."""
        loading = asyncio.ensure_future(asyncio.to_thread(prepare))
        loading.add_done_callback(lambda f: f.cancelled() or f.exception())
        aborted = asyncio.ensure_future(transport.wait_aborted())
        try:
            await asyncio.wait({loading, aborted}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            aborted.cancel()
        if not loading.done():  # the run aborted first (the reading goes on, unused)
            raise aborted.result()
        try:
            return loading.result()
        except Exception as exc:
            own = {str(i) for i in job.inputs if i.org == self.org}
            own |= {f"{i.org}/{i.dataset}" for i in job.inputs if i.org == self.org}
            await transport.abort(public_abort_reason(exc, self.org, own))
            raise


async def _cancel_pending() -> None:
    """Cancel every task on the running loop but this one, and let them unwind (bounded)."""
    current = asyncio.current_task()
    tasks = [t for t in asyncio.all_tasks() if t is not current]
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.wait(tasks, timeout=5.0)
