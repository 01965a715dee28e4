"""One governed query server as a process: `python -m node.query --dir NET --as ORG`.

`network up` starts it on each of the two members the charter names as query servers
(`query_servers`, A then B). It reads its role from the charter on the ledger, its policy from
the ledger (governance.py: the multilender job, removed members, revoked certificates, kept
current from events), serves the query service with mutual TLS on the port of its previous run
when free (recorded with its pid in NET/run/query-<org>.json, where clients and the other server
look it up), as server A holds the applicant-hash salt it hands to members (salt.py), keeps
its contributions and query log in NET/orgs/<org>/node/query-server (durable:
a restart loses no acknowledged update; the table is formed again from them at the next epoch),
and commits its signed period summaries (metering.py). Server A dials B's recorded address
before each epoch. Environment: ALLIANCE_QUERY_EPOCH_SECONDS (default 30),
ALLIANCE_QUERY_COMMIT_SECONDS (how often it looks for periods to commit, default 60),
ALLIANCE_QUERY_PARTIAL_PERIODS=1 (also commit the elapsed part of the current period: tests).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

from alliance.charter import Charter
from alliance.protocols.multilender import EPOCH_SECONDS
from node.paths import node_dir
from node.query.errors import QueryError
from node.query.governance import (
    LedgerAuthorizer,
    LedgerPolicy,
    LedgerPolicyFollower,
    read_policy,
)
from node.query.layout import MIN_PART_BITS, Layout
from node.query.metering import SummaryCommitter
from node.query.salt import server_salt
from node.query.server import QueryServer

log = logging.getLogger("node.query.service")

EPOCH_ENV = "ALLIANCE_QUERY_EPOCH_SECONDS"
COMMIT_ENV = "ALLIANCE_QUERY_COMMIT_SECONDS"
PARTIAL_ENV = "ALLIANCE_QUERY_PARTIAL_PERIODS"


def query_run_file(net_dir: Path, org: str) -> Path:
    return Path(net_dir) / "run" / f"query-{org}.json"


def query_log_path(net_dir: Path, org: str) -> Path:
    return Path(net_dir) / "run" / f"query-{org}.log"


def server_folder(net_dir: Path, org: str) -> Path:
    return node_dir(net_dir, org) / "query-server"


def read_query_run_file(net_dir: Path, org: str) -> dict[str, Any] | None:
    try:
        data = json.loads(query_run_file(net_dir, org).read_text())
        return data if isinstance(data, dict) and "port" in data else None
    except (OSError, ValueError):
        return None


def _write_run_file(net_dir: Path, org: str, data: dict[str, Any]) -> None:
    path = query_run_file(net_dir, org)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp-{os.getpid()}")
    tmp.write_text(json.dumps(data, sort_keys=True) + "\n")
    os.replace(tmp, path)


def env_seconds(name: str, default: float) -> float:
    try:
        value = float(os.environ.get(name, default))
    except ValueError:
        return default
    return value if value > 0 else default


def layout_of(terms: Any) -> Layout:
    """The table layout of a service job: sized for its capacity (or its part_bits), one
    segment per contributor."""
    if terms.capacity:
        return Layout.for_applicants(terms.capacity, terms.contributors)
    return Layout.of(terms.part_bits, terms.contributors)


PLACEHOLDER = Layout(MIN_PART_BITS, ("-",))
"""What a server serves before any service job names it (every request is refused then)."""


class LayoutFollower(LedgerAuthorizer):
    """The ledger authorizer, switching the server to the job's layout as soon as a policy with
    another one is installed (the job in force changed its size or its contributors): no
    restart needed."""

    def __init__(self, policy: LedgerPolicy) -> None:
        self.server: QueryServer | None = None
        super().__init__(policy)

    @property  # type: ignore[override]
    def policy(self) -> LedgerPolicy:
        return self._policy

    @policy.setter
    def policy(self, policy: LedgerPolicy) -> None:
        self._policy = policy
        if self.server is not None and policy.terms is not None:
            self.server.adopt(layout_of(policy.terms))


class GovernedServer:
    """The query server of `org` with its ledger follower and summary committer."""

    def __init__(self, net_dir: Path, org: str, passphrase: bytes | None) -> None:
        self.net_dir = Path(net_dir).resolve()
        self.org = org
        self.passphrase = passphrase
        self.server: QueryServer | None = None
        self.follower: LedgerPolicyFollower | None = None
        self.committer: SummaryCommitter | None = None
        self._conn: Any = None
        self._stop = threading.Event()
        self._peer_thread: threading.Thread | None = None
        self.mismatches: list[str] = []
        """Committed periods this server's log no longer matches (checked at start)."""

    def _connect(self) -> Any:
        from network.connection import connect_member

        return connect_member(self.net_dir, self.org, "node", self.passphrase)

    def _contract(self) -> Any:
        if self._conn is None:
            self._conn = self._connect()
        return self._conn.contract

    def start(self) -> GovernedServer:
        from alliance.profile import load_profile
        from node.query.wiring import make_server

        try:
            charter = Charter.from_json(self._contract().evaluate_transaction("GetCharter"))
            if self.org not in charter.query_servers:
                raise QueryError(
                    f"the charter names {', '.join(charter.query_servers) or 'no'} query "
                    f"servers, not {self.org}; the members name them by vote (`alliance member "
                    "propose --query-servers A,B`)")
            role = "a" if charter.query_servers[0] == self.org else "b"
            peer = charter.query_servers[1 if role == "a" else 0]
            first = read_policy(self._contract().evaluate_transaction, self.org)
            layout = layout_of(first.terms) if first.terms else PLACEHOLDER
            authorizer = LayoutFollower(first)
            folder = server_folder(self.net_dir, self.org)
            salt = server_salt(folder, self.net_dir) if role == "a" else None
            follower = LedgerPolicyFollower(authorizer, self._connect,
                                            load_profile(self.net_dir).chaincode)
            previous = read_query_run_file(self.net_dir, self.org)
            ports = [int(previous["port"]), 0] if previous and previous.get("port") else [0]
            error: Exception | None = None
            for port in ports:
                try:
                    self.server = make_server(
                        self.net_dir, self.org, role, peer, self._peer_address(peer), layout,
                        folder, authorizer, self.passphrase,
                        port=port, epoch_seconds=env_seconds(EPOCH_ENV, EPOCH_SECONDS),
                        salt=salt).start()
                    break
                except QueryError as exc:
                    error = exc
            if self.server is None:
                raise QueryError(f"{self.org}'s query server cannot listen: {error}")
            authorizer.server = self.server
            if first.terms is not None:  # a log of an earlier version: its queries' job
                self.server.store.assign_unattributed(first.terms.job_id)
            self.follower = follower.start()
            self.committer = SummaryCommitter(self.server, authorizer, self._contract,
                                              every=env_seconds(COMMIT_ENV, 60.0),
                                              partial=os.environ.get(PARTIAL_ENV) == "1")
            self.mismatches = self.committer.check_committed()
            self.committer.start()
            if role == "a":
                self._peer_thread = threading.Thread(target=self._follow_peer, args=(peer,),
                                                     name="query-peer", daemon=True)
                self._peer_thread.start()
            _write_run_file(self.net_dir, self.org, {
                "pid": os.getpid(), "port": self.server.port, "org": self.org, "role": role,
                "part_bits": layout.part_bits, "part_blocks": layout.part_blocks,
                "started_at": int(time.time())})
        except BaseException:
            self.stop()
            raise
        log.info("query server %s (%s) on port %d", self.org, role, self.server.port)
        return self

    def _peer_address(self, peer: str) -> str:
        data = read_query_run_file(self.net_dir, peer)
        return f"127.0.0.1:{data['port']}" if data else "127.0.0.1:1"

    def _follow_peer(self, peer: str) -> None:
        while not self._stop.wait(1.0):
            if self.server is not None:
                self.server.set_peer_address(self._peer_address(peer))

    def stop(self) -> None:
        self._stop.set()
        if self._peer_thread is not None:
            self._peer_thread.join(5)
        if self.committer is not None:
            self.committer.stop()
        if self.follower is not None:
            self.follower.stop()
        if self.server is not None:
            self.server.stop(0.5)
            self.server = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None
