"""`alliance demo --scenario query`: the real-time multi-lender query, governed by the ledger.

Three lenders (bank, telecom, platform) and a regulator. The members name the bank and the
telecom as the two query servers by a charter vote; the platform asks for the standing
`multilender` service job, which the other lenders approve; each lender's node pushes its loan
events as secret shares; the platform looks applicants up (purpose code, consent document) and
every answer is checked against the sum of the *other* lenders' books computed in the clear
(the demo holds every book); the refusals a lender meets are shown; and once the servers have
committed the metering period's signed summary, a lookup is proven to the regulator, against
the ledger alone, to have been made with the applicant's consent, while the ledger holds no
applicant id. The servers form a table every 2 s here (30 s by default).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from alliance.cli.demo.flow import AUDITOR, MEMBERS, DemoFlow
from alliance.cli.demo.lending_data import FEATURED

SERVERS = ("bank", "telecom")
ASKER = "platform"
PURPOSE = "credit_check"
PERIOD_SECONDS = 60
"""The shortest metering period a service job may have: the audit step waits for its end."""
SERVER_ENV = {"ALLIANCE_QUERY_EPOCH_SECONDS": "2", "ALLIANCE_QUERY_COMMIT_SECONDS": "1"}
WAIT = 60.0


class LendingFlow(DemoFlow):
    """The query scenario's steps (the alliance, nodes and teardown are DemoFlow's)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._started_query: list[str] = []
        self.books: dict[str, Any] = {}
        self.today = int(time.time() // 86400)

    def actions(self) -> tuple[Callable[[], None], ...]:
        return (self.create, self.start, self.charter, self.name_servers, self.service_job,
                self.feed, self.lookups, self.refusals, self.proof)

    # ---- steps ---------------------------------------------------------------------------------

    def create(self) -> None:
        from alliance.cli.demo.lending_data import APPLICANTS, write_books
        from alliance.network_init import init_network

        init_network(self.net_dir, members=list(MEMBERS), auditors=[AUDITOR],
                     passphrase=self.passphrase)
        self.books = write_books(self.net_dir / "demo-data", self.seed, self.today)
        counts = ", ".join(f"{org} {len(events)}" for org, (_, events) in self.books.items())
        self._step("create", "Alliance created", True,
                   f"MSPs for {', '.join(MEMBERS)} + {AUDITOR}; synthetic loan books over "
                   f"{APPLICANTS} applicants, events: {counts}")

    def name_servers(self) -> None:
        from alliance.app import members as membership
        from node.query.launcher import start_query_servers

        proposal = membership.propose_query_servers(
            self.session("bank"), list(SERVERS), "bank and telecom run the query servers"
        ).model_dump(mode="json")
        voters = ["bank"]
        for org in MEMBERS[1:]:
            if proposal["state"] != "PENDING":
                break
            proposal = membership.vote_proposal(self.session(org), proposal["id"],
                                                "yes").model_dump(mode="json")
            voters.append(org)
        named = tuple(self.evaluate(AUDITOR, "GetCharter").get("query_servers") or ())
        self._on_begin("starting the query servers of bank (A) and telecom (B)")
        self._started_query = list(SERVERS)
        pids = start_query_servers(self.net_dir, list(SERVERS),
                                   env={**self._env(), **SERVER_ENV})
        self._step("servers", "Query servers named by vote and started",
                   proposal["state"] == "PASSED" and named == SERVERS,
                   f"proposal {proposal['id']} {proposal['state']} with yes from "
                   f"{', '.join(voters)}; the charter names {' (A), '.join(named)} (B); "
                   + ", ".join(f"{org} (pid {pid})" for org, pid in pids.items()),
                   proposal=proposal["id"])

    def service_job(self) -> None:
        from alliance.app import jobs
        from alliance.app.datasets import register_dataset
        from alliance.app.query import server_states, service_terms

        for org, (path, _) in self.books.items():
            self._on_begin(f"registering {org}'s loan book")
            register_dataset(self.session(org), "loans", file=path,
                             description="demo loan events", tags=["demo"])
        request = jobs.build_request(
            "multilender", [f"{org}/loans:applicant_id" for org in self.books],
            {"server_a": SERVERS[0], "server_b": SERVERS[1],
             "purposes": f"{PURPOSE},limit_review", "daily_quota": "100",
             "period_seconds": str(PERIOD_SECONDS), "capacity": "2000"},
            {"aggregates": [ASKER]}, expires_in_seconds=86_400)
        job = jobs.request_job(self.session(ASKER), request).model_dump(mode="json")
        approvers = []
        for org in job["required_approvers"]:
            if job["state"] != "REQUESTED":
                break
            job = jobs.approve_job(self.session(org), job["id"]).model_dump(mode="json")
            approvers.append(org)
        self._on_begin("waiting for both servers to read the approved job from the ledger")
        session = self.session(ASKER)
        enforced = self._until(lambda: all(
            s.enforces == job["id"] for s in server_states(session, service_terms(session))))
        self.summary["job"] = job["id"]
        self._step("service", "Service job approved by the lenders, enforced by both servers",
                   job["state"] == "APPROVED" and enforced,
                   f"{job['id']} requested by {ASKER}, approved by {', '.join(approvers)}: "
                   f"servers {SERVERS[0]} (A) and {SERVERS[1]} (B), purposes {PURPOSE} and "
                   f"limit_review, 100 lookups a day per member, the answer to {ASKER}; "
                   + ("both servers enforce it" if enforced else
                      f"the servers did not read it from the ledger within {WAIT:.0f} s"),
                   job_id=job["id"])

    def feed(self) -> None:
        from alliance.app.query import feed_events, wait_visible

        done = []
        for org, (path, events) in self.books.items():
            self._on_begin(f"{org}'s node sends its loan book as secret shares")
            # the day the clear figures are computed for, even if UTC midnight passes meanwhile
            report = feed_events(self.session(org), path, today=self.today)
            report.update(wait_visible(self.session(org), int(report["version"]), timeout=WAIT))
            done.append(f"{org}: {len(events)} events, {report['applicants']} records, "
                        f"counted by lookups {report['visible_after_s']:g} s after sending")
        self._step("feed", "Each lender's node pushed its book as secret shares", True,
                   "; ".join(done) + " (each server holds a share that says nothing alone; "
                   "neither learns which applicants changed)")

    def lookups(self) -> None:
        from alliance.app.query import lookup, lookup_many
        from alliance.cli.demo.lending_data import exposure_in_clear, featured

        books = {org: events for org, (_, events) in self.books.items()}
        picks = featured(books, ASKER, self.today)
        self._on_begin(f"{ASKER} looks {len(picks)} applicants up")
        started = time.perf_counter()
        first = lookup(self.session(ASKER), picks[0][0], PURPOSE, self.consent(picks[0][0]))
        alone = time.perf_counter() - started
        answers = [first, *lookup_many(self.session(ASKER),
                                       [(a, self.consent(a)) for a, _ in picks[1:]], PURPOSE)]
        rows, wrong = [], []
        for (applicant, shows), answer in zip(picks, answers, strict=True):
            clear = exposure_in_clear(books, ASKER, applicant, self.today)
            got = {name: answer.aggregates.get(name, 0) for name in clear}
            if got != clear or answer.missing:
                wrong.append(applicant)
            rows.append({"applicant": applicant, "shows": shows, "secure": got,
                         "clear": clear, "record": answer.record,
                         "ms": round(answer.seconds * 1000, 1)})
        self.summary["lookups"] = rows
        open_ms = sorted(r["ms"] for r in rows[1:])
        self._step("lookups", "Lookups equal the other lenders' books summed in the clear",
                   not wrong,
                   f"{ASKER} asked about "
                   + ", ".join(f"{r['applicant']} ({r['shows']})" for r in rows) + ": "
                   + (f"{', '.join(wrong)} differ" if wrong else
                      "every answer = the other lenders' records summed")
                   + f"; the first as `alliance query lender` does, connecting to both servers: "
                   f"{alone * 1000:.0f} ms; the others over one open connection, as a lender's "
                   f"node keeps it: {open_ms[0]:g}-{open_ms[-1]:g} ms each", lookups=rows)

    def refusals(self) -> None:
        from alliance.app.errors import AppError, Refused
        from alliance.app.query import lookup

        def refused(org: str, purpose: str, consent: Path) -> str:
            try:
                lookup(self.session(org), FEATURED, purpose, consent)
            except Refused as exc:
                return f"refused ({exc.error_type})"
            except AppError:
                return "not sent (the asker's node refuses it)"
            return "answered"

        empty = self.net_dir / "demo-data" / "consent-empty.txt"
        empty.write_text("")
        seen = {
            "a purpose the job does not allow (marketing)":
                refused(ASKER, "marketing", self.consent(FEATURED)),
            "the applicant's consent document empty": refused(ASKER, PURPOSE, empty),
            "bank, a server's member, asking": refused("bank", PURPOSE, self.consent(FEATURED)),
        }
        self._step("refusals", "Lookups the rules forbid are refused",
                   not any(code == "answered" for code in seen.values()),
                   "; ".join(f"{what}: {code}" for what, code in seen.items()), refused=seen)

    def proof(self) -> None:
        from alliance.app.query import audit, summaries, verify_bundle

        record = self.summary["lookups"][0]["record"]  # FEATURED's, asked first
        session = self.session(ASKER)
        ends = (int(time.time()) // PERIOD_SECONDS + 1) * PERIOD_SECONDS
        self._on_begin(f"waiting for both servers to commit their summary of the metering "
                       f"period ending {time.strftime('%H:%M:%S', time.localtime(ends))}")
        committed = self._until(lambda: len({s["server"] for s in summaries(session)
                                             if s["period_end"] >= ends}) == 2,
                                timeout=PERIOD_SECONDS + WAIT)
        bundle = audit(session, record, self.consent(FEATURED))
        bundle_file = self.net_dir / "demo-data" / f"proof-{record}.json"
        bundle_file.write_text(json.dumps(bundle, indent=1))
        verified = verify_bundle(self.session(AUDITOR), bundle_file, self.consent(FEATURED))
        job = self.summary["job"]
        found = self._on_ledger([r["applicant"] for r in self.summary["lookups"]]
                                + [str(self.net_dir), job])
        readable, leaked = job in found, [n for n in found if n != job]
        self._step("proof", "A lookup proven to the regulator, no applicant id on the ledger",
                   committed and verified["verified"] and readable and not leaked,
                   f"both servers committed their signed summary (Merkle root of the query log, "
                   f"counts per member); {ASKER}'s lookup {record} of {FEATURED} opened with the "
                   f"consent document and proven in both roots; {AUDITOR} verified the bundle "
                   f"against the ledger alone; the ledger's {self.summary['blocks']} blocks "
                   + (f"hold {', '.join(leaked)}" if leaked else
                      "hold none of the applicant ids asked, nor a local path"),
                   bundle=str(bundle_file))

    def next_commands(self) -> list[str]:
        consent = self.net_dir / "demo-data" / f"consent-{FEATURED}.txt"
        return [f"alliance network up --dir {self.net_dir}",
                f"alliance --dir {self.net_dir} --as {ASKER} query lender --id {FEATURED} "
                f"--purpose {PURPOSE} --consent {consent}",
                f"alliance --dir {self.net_dir} --as {ASKER} query records",
                f"alliance tui --dir {self.net_dir} --as {ASKER}"]

    # ---- helpers -------------------------------------------------------------------------------

    def _on_ledger(self, needles: list[str]) -> list[str]:
        """Which of `needles` appear anywhere in the ledger: every block, as the regulator
        reads it (through qscc, as `alliance audit verify-chain` does). The proof step also
        looks for the job's id, which must be found: a "none" is then a finding, not a scan
        that read nothing."""
        from network.audit import QSCC, chain_info

        network = self.session(AUDITOR).connection.contract.network
        qscc = network.get_contract(QSCC)
        height = chain_info(network).height
        self.summary["blocks"] = height
        blocks = [qscc.evaluate_transaction("GetBlockByNumber", network.name, str(n))
                  for n in range(height)]
        return [n for n in needles if any(n.encode() in block for block in blocks)]

    def consent(self, applicant: str) -> Path:
        """The applicant's signed consent (a text file here; any document in real use)."""
        path = self.net_dir / "demo-data" / f"consent-{applicant}.txt"
        if not path.exists():
            path.write_text(f"I, applicant {applicant}, consent to a credit check by the "
                            f"lenders of this alliance.\n")
        return path

    def _until(self, check: Callable[[], bool], timeout: float = WAIT) -> bool:
        from alliance.app.errors import AppError

        deadline = time.monotonic() + timeout
        while True:
            try:
                if check():
                    return True
            except AppError:  # a server still starting, or the ledger not caught up: ask again
                pass
            if time.monotonic() > deadline:
                return False
            time.sleep(0.5)

    # ---- teardown ------------------------------------------------------------------------------

    def stop(self) -> list[str]:
        from node.query.launcher import stop_query_server

        stopped = []
        for org in reversed(self._started_query):
            if stop_query_server(self.net_dir, org):
                stopped.append(f"query server {org}")
        self._started_query.clear()
        return stopped + super().stop()
