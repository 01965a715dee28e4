"""The demo's steps, each checked: what the ledger and the nodes did, against what was shown.

`DemoFlow(net_dir, passphrase).run(on_step)` creates the alliance, starts devnet and the three
member nodes as separate processes, and walks the governed flow; every step yields a `Step` with
`ok` saying whether it happened as shown. `stop()` (always called by `run`) stops every process
the flow started, and only those.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

MEMBERS = ("bank", "telecom", "platform")
AUDITOR = "regulator"
NEWCOMER = "fintech"
JOB_WAIT_SECONDS = 40.0
DELIVERY_WAIT_SECONDS = 10.0


@dataclass
class Step:
    key: str
    title: str
    ok: bool
    detail: str = ""
    data: dict[str, Any] = field(default_factory=dict)


class DemoFailed(Exception):
    """A step did not happen as shown."""


class DemoFlow:
    def __init__(
        self,
        net_dir: Path,
        passphrase: bytes,
        *,
        seed: int = 7,
        node_args: list[str] | None = None,
        engine: str = "devnet",
    ) -> None:
        self.net_dir = Path(net_dir).resolve()
        self.engine = engine
        self.node_args = list(node_args or [])
        self.passphrase = passphrase
        self.seed = seed
        self.steps: list[Step] = []
        self.summary: dict[str, Any] = {"dir": str(self.net_dir), "seed": seed}
        self._started_ledger = False
        self._started_nodes: list[str] = []
        self._on_step: Callable[[Step], None] = lambda step: None
        self._on_begin: Callable[[str], None] = lambda text: None
        self.tables: dict[str, Any] = {}
        self._sessions: dict[str, Any] = {}
        self.interrupted = False
        """Set by the demo command's SIGINT/SIGTERM handler: the next step boundary stops the
        flow even if the KeyboardInterrupt the handler raised was swallowed (one raised inside
        a finalizer is only printed)."""
        self.stopping = False
        """Set while `run` stops what the flow started: an interrupt then must not cut the
        teardown short (a second Ctrl-C would leave the ledger or a node running)."""

    # ---- driving -------------------------------------------------------------------------------

    def run(
        self,
        on_step: Callable[[Step], None] | None = None,
        on_begin: Callable[[str], None] | None = None,
    ) -> bool:
        """Every step in order; stops at the first that did not happen. True if all did.
        `on_begin(text)` is told when a step longer than a moment begins (a progress display)."""
        self._on_step = on_step or self._on_step
        self._on_begin = on_begin or self._on_begin
        ok = False
        try:
            for action in self.actions():
                if self.interrupted:
                    raise KeyboardInterrupt
                action()
            if self.interrupted:
                raise KeyboardInterrupt
            ok = True
        except DemoFailed:
            pass
        except Exception as exc:  # any other trouble is a step that did not happen, shown as such
            step = Step("error", "Stopped by an error", False, f"{type(exc).__name__}: {exc}")
            self.steps.append(step)
            self._on_step(step)
        finally:
            self.stopping = True
            self.stop()
        if self.interrupted:  # during the teardown, which went on to its end
            raise KeyboardInterrupt
        return ok

    def next_commands(self) -> list[str]:
        """What to run on the kept network afterwards (a scenario adds its own)."""
        return [f"alliance network up --dir {self.net_dir}",
                f"alliance tui --dir {self.net_dir} --as bank"]

    def actions(self) -> tuple[Callable[[], None], ...]:
        """The steps, in order (a scenario overrides them)."""
        return (
            self.create,
            self.start,
            self.charter,
            self.admit_newcomer,
            self.register_datasets,
            self.stats_job,
            self.psi_job,
            self.rejected_job,
            self.unapproved_job,
            self.audit,
        )

    def _step(self, key: str, title: str, ok: bool, detail: str = "", **data: Any) -> Step:
        step = Step(key, title, ok, detail, data)
        self.steps.append(step)
        self._on_step(step)
        if not ok:
            raise DemoFailed(f"{title}: {detail}")
        return step

    def session(self, org: str) -> Any:
        """The application layer's session of org's admin (the CLI's and the TUI's use cases)."""
        from alliance.app import Session

        if org not in self._sessions:
            self._sessions[org] = Session(self.net_dir, org, "admin", self.passphrase)
        return self._sessions[org]

    def submit(self, org: str, function: str, *args: str) -> Any:
        """A transaction as org's admin, through its session: on Fabric it first waits until
        every endorsing peer has the blocks this NET has seen committed (a peer a block behind
        would answer "no job" to an approval right after the request)."""
        return self.session(org).submit(function, *args)

    def evaluate(self, org: str, function: str, *args: str) -> Any:
        return self.session(org).evaluate(function, *args)

    # ---- steps ---------------------------------------------------------------------------------

    def create(self) -> None:
        from alliance.cli.demo.data import overlap, write_tables
        from alliance.network_init import add_org, init_network

        init_network(
            self.net_dir, members=list(MEMBERS), auditors=[AUDITOR], passphrase=self.passphrase
        )
        add_org(self.net_dir, NEWCOMER, self.passphrase)
        self.tables = write_tables(self.net_dir / "demo-data", self.seed)
        shared = overlap(self.seed)
        rows = ", ".join(f"{org} {t[3]}" for org, t in self.tables.items())
        self._step(
            "create",
            "Alliance created",
            True,
            f"MSPs for {', '.join(MEMBERS)} + {AUDITOR} (auditor); synthetic data: {rows} "
            f"rows, {shared} ids in all three",
            shared_ids=shared,
        )

    def start(self) -> None:
        from network.connection import record_engine
        from node.launcher import start_nodes

        self._started_ledger = True
        self._on_begin("starting the ledger and the three member nodes")
        if self.engine == "fabric":
            from network.fabric.launcher import start_fabric

            fabric = start_fabric(self.net_dir, passphrase=self.passphrase)
            ledger = f"Fabric: orderer {fabric.orderer}, peers " + ", ".join(
                f"{o}:{p.port}" for o, p in fabric.peers.items()
            )
        else:
            from network.devnet.launcher import start_devnet

            devnet = start_devnet(self.net_dir, batch_timeout_ms=20)
            ledger = f"devnet on port {devnet.port}"
        record_engine(self.net_dir, self.engine)
        self._started_nodes = list(MEMBERS)
        pids = start_nodes(self.net_dir, list(MEMBERS), env=self._env(), extra_args=self.node_args)
        self.summary["engine"] = self.engine
        self._step(
            "start",
            "Ledger and nodes up",
            True,
            f"{ledger}; nodes " + ", ".join(f"{o} (pid {p})" for o, p in pids.items()),
            ledger=ledger,
            nodes=pids,
        )

    def _env(self) -> dict[str, str]:
        from alliance.keystore import PASSPHRASE_ENV

        return {PASSPHRASE_ENV: self.passphrase.decode()}

    def charter(self) -> None:
        from alliance.founding import load_signed_charter

        charter = load_signed_charter(self.net_dir).to_json().decode()
        status = self.submit("bank", "InitCharter", charter)
        accepted = ["bank"]
        for org in list(status["awaiting"]):
            status = self.submit(org, "AcceptCharter", status["charter_hash"])
            accepted.append(org)
        members = self.evaluate(AUDITOR, "ListMembers")
        names = sorted(m["org"] for m in members)
        self._step(
            "charter",
            "Charter in effect",
            status["state"] == "in_effect" and names == sorted([*MEMBERS, AUDITOR]),
            f"submitted by bank's admin, signed by every founder, in effect once accepted by "
            f"each founder's own transaction ({', '.join(accepted)}); members: {', '.join(names)}",
        )

    def admit_newcomer(self) -> None:
        from alliance.app import members as membership

        proposal = membership.propose_join(
            self.session("bank"), NEWCOMER, "member", "a fintech asks to join the alliance"
        ).model_dump(mode="json")
        voters = ["bank"]
        for org in ("telecom", "platform"):
            if proposal["state"] != "PENDING":
                break
            proposal = membership.vote_proposal(
                self.session(org), proposal["id"], "yes"
            ).model_dump(mode="json")
            voters.append(org)
        members = {m["org"] for m in self.evaluate(AUDITOR, "ListMembers")}
        self._step(
            "admit",
            f"{NEWCOMER} admitted by vote",
            proposal["state"] == "PASSED" and NEWCOMER in members,
            f"proposal {proposal['id']} {proposal['state']} with yes from {', '.join(voters)}",
            proposal=proposal["id"],
        )

    def register_datasets(self) -> None:
        from alliance.app.datasets import register_dataset

        registered = []
        for org, (path, table, _, _) in self.tables.items():
            self._on_begin(f"fingerprinting {path.name} of {org}")
            done = register_dataset(
                self.session(org), table.name, file=Path(path),
                description=f"demo {table.name}", tags=["demo"],
            )
            dataset = done.dataset
            registered.append(
                f"{dataset.id} ({dataset.row_count} rows, {dataset.fingerprint[:15]}…)"
            )
        self._step(
            "datasets",
            "Datasets registered",
            len(registered) == len(MEMBERS),
            "; ".join(registered),
        )

    def _input(self, org: str) -> str:
        table = self.tables[org][1]
        return f"{org}/{table.name}:{table.value_column}"

    def _request(self, org: str, inputs: list[str], recipient: str, op: str = "sum") -> dict:
        from alliance.app import jobs

        request = jobs.build_request(
            "stats", inputs, {"op": op}, {"result": [recipient]}, expires_in_seconds=600
        )
        return jobs.request_job(self.session(org), request).model_dump(mode="json")

    def wait_for(
        self,
        job_id: str,
        states: tuple[str, ...] = ("COMPLETED", "FAILED", "DISPUTED"),
        timeout: float = JOB_WAIT_SECONDS,
    ) -> dict:
        """The job once it has ended (the ledger's events, through the application layer), or
        as it is when `timeout` passes. `states` are final states the caller expects; a job
        that ends in another is returned as well (it will not change any more)."""
        from alliance.app import jobs
        from alliance.app.errors import WaitTimedOut

        self._on_begin(f"waiting for the nodes to run {job_id}")
        try:
            job = jobs.wait_for_job(
                self.session(AUDITOR), job_id, timeout=timeout, require_completed=False
            )
        except WaitTimedOut:
            job = jobs.show_job(self.session(AUDITOR), job_id)
        return job.model_dump(mode="json")

    def stats_job(self) -> None:
        from node.paths import outputs_dir

        job = self._request("telecom", [self._input(o) for o in MEMBERS], "telecom")
        job_id = job["id"]
        self.summary["job"] = job_id
        self._step(
            "request",
            "Statistics job requested",
            job["state"] == "REQUESTED",
            f"{job_id} by telecom: secure sum of bank exposure + telecom balance + "
            f"platform spend, result to telecom; waiting for "
            f"{', '.join(job['required_approvers'])}",
        )
        for org in job["required_approvers"]:
            job = self.submit(org, "ApproveJob", job_id)
        self._step(
            "approve",
            "Approved by each owner",
            job["state"] == "APPROVED",
            f"ApproveJob by {', '.join(job['required_approvers'])} (telecom's own input: by "
            f"its request); state {job['state']}",
        )
        job = self.wait_for(job_id)
        receipts = job["receipts"].get(str(job["current_run"]), {})
        self._step(
            "run",
            "Run by the nodes, receipts recorded",
            job["state"] == "COMPLETED",
            f"claims by {', '.join(sorted(job['claims']))}; receipts from "
            f"{', '.join(sorted(receipts))}; {job['state']}"
            + (f" ({job['failures']})" if job["failures"] else ""),
            state=job["state"],
        )
        data = self.delivered("telecom", job_id, job["current_run"], "result")
        secure = Decimal(json.loads(data)["value"])
        clear = sum(t[2] for t in self.tables.values())
        digest = job["results"][str(job["current_run"])]["output_digests"]["result"]
        self.summary["result"] = {"secure": str(secure), "clear": str(clear), "digest": digest}
        self._step(
            "result",
            "Secure result = figure in the clear",
            secure == clear,
            f"secure sum at telecom {secure}  |  computed in the clear {clear}  |  "
            f"digest on the ledger {digest[:23]}…",
            secure=str(secure),
            clear=str(clear),
        )
        others = [
            o for o in MEMBERS if o != "telecom" if (outputs_dir(self.net_dir, o) / job_id).exists()
        ]
        self._step(
            "recipients",
            "Only the named recipient got the output",
            not others,
            "outputs at telecom only" if not others else f"also at {others}",
        )

    def psi_job(self) -> None:
        """bank ∩ telecom on customer ids: the cardinality to both, the ids to the bank only."""
        import csv as _csv
        import io as _io
        import json as _json

        from alliance.cli.demo.data import make_table
        from node.paths import outputs_dir

        bank, telecom = self.tables["bank"][1], self.tables["telecom"][1]
        from alliance.app import jobs

        request = jobs.build_request(
            "psi",
            [f"bank/{bank.name}:{bank.id_column}", f"telecom/{telecom.name}:{telecom.id_column}"],
            {"normalize": "trim,nfc"},
            {"cardinality": ["bank", "telecom"], "intersection": ["bank"]},
            expires_in_seconds=600,
        )
        job = jobs.request_job(self.session("telecom"), request).model_dump(mode="json")
        job = self.submit("bank", "ApproveJob", job["id"])
        job = self.wait_for(job["id"])
        if job["state"] != "COMPLETED":
            self._step(
                "psi",
                "Private set intersection",
                False,
                f"{job['id']} {job['state']}: {job['failures'] or job['results']}",
            )
        run = job["current_run"]
        text = self.delivered("bank", job["id"], run, "intersection").decode()
        secure = [row[0] for row in _csv.reader(_io.StringIO(text, newline=""))][1:]  # header id
        counts = {
            org: _json.loads(self.delivered(org, job["id"], run, "cardinality"))["cardinality"]
            for org in ("bank", "telecom")
        }
        clear = sorted(set(make_table(bank, self.seed)[0]) & set(make_table(telecom, self.seed)[0]))
        telecom_got = sorted(
            _json.loads(
                (
                    outputs_dir(self.net_dir, "telecom")
                    / job["id"]
                    / f"run-{run}"
                    / "manifest.json"
                ).read_text()
            )["outputs"]
        )
        self.summary["psi"] = {
            "job": job["id"],
            "secure": len(secure),
            "clear": len(clear),
            "telecom_outputs": telecom_got,
        }
        ok = (
            secure == clear
            and counts == {"bank": len(clear), "telecom": len(clear)}
            and telecom_got == ["cardinality"]
        )
        self._step(
            "psi",
            "Private set intersection (bank ∩ telecom)",
            ok,
            f"{job['id']}: {len(secure)} shared customers at bank = {len(clear)} in the "
            f"clear; cardinality {counts['telecom']} at telecom, which got no ids "
            f"(its outputs: {', '.join(telecom_got)})",
            job_id=job["id"],
        )

    def delivered(self, org: str, job_id: str, run: int, name: str) -> bytes:
        """Output `name` once `org`'s node has delivered it. A node submits its receipt before it
        moves the output into place, so COMPLETED on the ledger can come a moment earlier."""
        from node.errors import NodeError
        from node.outputs import read_output
        from node.paths import outputs_dir

        deadline = time.monotonic() + DELIVERY_WAIT_SECONDS
        while True:
            try:
                return read_output(outputs_dir(self.net_dir, org), job_id, run, name)
            except NodeError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def _runs_at_nodes(self, job_id: str) -> dict[str, list[str]]:
        from node.paths import node_store_path
        from node.store import NodeStore

        found: dict[str, list[str]] = {}
        for org in MEMBERS:
            runs = [
                r
                for r in NodeStore(node_store_path(self.net_dir, org)).runs()
                if r.job_id == job_id
            ]
            if runs:
                found[org] = [r.state for r in runs]
        return found

    def rejected_job(self) -> None:
        job = self._request(
            "telecom", [self._input("bank"), self._input("telecom")], "telecom", op="mean"
        )
        job = self.submit("bank", "RejectJob", job["id"], "not for this purpose")
        time.sleep(0.5)  # give the nodes the time to (wrongly) react
        job = self.evaluate(AUDITOR, "GetJob", job["id"])
        runs = self._runs_at_nodes(job["id"])
        self.summary["rejected_job"] = job["id"]
        self._step(
            "rejected",
            "A rejected job never runs",
            job["state"] == "REJECTED" and not job["claims"] and not runs,
            f"{job['id']} rejected by bank ({job['rejection']['reason']}); claims: none; "
            f"runs at nodes: {runs or 'none'}",
        )

    def unapproved_job(self) -> None:
        from alliance.models import Job
        from node.gate import refusal_reasons
        from node.link_probe import probe_link

        job = self._request("telecom", [self._input("bank"), self._input("platform")], "telecom")
        job_id = job["id"]
        self.summary["unapproved_job"] = job_id
        answer = probe_link(self.net_dir, "telecom", "bank", job_id, passphrase=self.passphrase)
        outsider = probe_link(self.net_dir, NEWCOMER, "bank", job_id, passphrase=self.passphrase)
        reasons = refusal_reasons(Job.model_validate(job), "bank", int(time.time()), {})
        job = self.evaluate(AUDITOR, "GetJob", job_id)
        runs = self._runs_at_nodes(job_id)
        ok = (
            answer.refused
            and outsider.refused
            and job["state"] == "REQUESTED"
            and not runs
            and bool(reasons)
        )
        self._step(
            "forged",
            "Executors refuse a job nobody approved",
            ok,
            f"forged link for {job_id} (telecom -> bank): {answer.code}; link from a "
            f"non-participant ({NEWCOMER} -> bank): {outsider.code}; bank's gate: "
            f"{reasons[0] if reasons else 'open?!'}; {job_id} still {job['state']}, "
            f"runs at nodes: {runs or 'none'}",
            forged=f"{answer.code}: {answer.details}",
            outsider=f"{outsider.code}: {outsider.details}",
            gate=reasons,
        )

    def audit(self) -> None:
        from network.audit import job_trail

        self.evaluate(AUDITOR, "GetJob", self.summary["job"])  # the auditor's peer caught up
        contract = self.session(AUDITOR).connection.contract
        trail = [
            e.to_dict()
            for e in job_trail(contract.network, contract.chaincode, self.summary["job"])
        ]
        self.summary["trail"] = trail
        states = [row["state"] for row in trail]
        ok = (
            states[0] == "REQUESTED"
            and states[-1] == "COMPLETED"
            and all(row["validation"] == "VALID" for row in trail)
        )
        self._step(
            "audit",
            "Auditor's trail (regulator)",
            ok,
            f"{len(trail)} transactions from REQUESTED to {states[-1]}",
            trail=trail,
        )

    # ---- teardown ------------------------------------------------------------------------------

    def stop_connections(self) -> None:
        """Close the admins' ledger connections (they reconnect on next use)."""
        for session in self._sessions.values():
            session.close()

    def stop(self) -> list[str]:
        from node.launcher import stop_node

        stopped = []
        self.stop_connections()
        for org in reversed(self._started_nodes):
            if stop_node(self.net_dir, org):
                stopped.append(f"node {org}")
        self._started_nodes.clear()
        if self._started_ledger:
            stopped += self._stop_ledger()
        self._started_ledger = False
        return stopped

    def _stop_ledger(self) -> list[str]:
        from network.processes import kill_all_started

        if self.engine == "fabric":
            from network.fabric.launcher import stop_fabric

            stopped = stop_fabric(self.net_dir)
        else:
            from network.devnet.launcher import stop_devnet

            stopped = ["devnet"] if stop_devnet(self.net_dir) else []
        if not stopped:  # cut off while starting, before the ledger recorded itself
            kill_all_started()
        return stopped
