"""Multi-lender query use cases: look an applicant up, feed a member's loan events, audit a
lookup, list the servers' committed summaries, and the query servers' part of `network status`.

The service's terms come from the ledger (the newest APPROVED, unexpired `multilender` job); the
servers' addresses from their run files (NET/run/query-<org>.json, written by the servers
`network up` starts). A lookup sends each server a fresh salted consent commitment
(node/query/consent.py) and keeps the asker's record (nonces, log entries) in its node folder;
`audit` opens the commitments with the consent document and proves each server's log entry is in
the Merkle root that server committed to the ledger. The servers' answers pass only when both
answer on the same table: a server down is an `Unreachable` naming it and what to do, never an
answer from one server.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from alliance.app.clock import iso, when
from alliance.app.errors import (
    AppError,
    BadInput,
    FileMissing,
    LocalTrouble,
    Refused,
    Unreachable,
    WaitTimedOut,
    mapped_errors,
)
from alliance.app.progress import Progress, ProgressFn, no_progress
from alliance.app.session import Session
from alliance.protocols.multilender import EPOCH_SECONDS, NAME, ServiceTerms

EVENT_COLUMNS = ("kind", "applicant_id", "date", "loan_id", "amount_cents")


@contextmanager
def query_errors(net_dir: Path) -> Iterator[None]:
    """The query service's errors as the application's (with what to do next)."""
    from node.query.errors import (
        EpochUnavailable,
        QueryError,
        QueryRefused,
        ServerUnavailable,
    )

    try:
        with mapped_errors():
            yield
    except QueryRefused as exc:
        raise Refused(f"the query was refused ({exc.code}): {exc}", error_type=exc.code) from exc
    except ServerUnavailable as exc:
        raise Unreachable(str(exc), hint=f"see `alliance network status --dir {net_dir}`; the "
                          "server's operator restarts it with `alliance network up`") from exc
    except EpochUnavailable as exc:
        raise Unreachable(str(exc)) from exc
    except QueryError as exc:
        raise LocalTrouble(str(exc)) from exc


# ---- the service on the ledger ----------------------------------------------------------------


def service_terms(session: Session) -> ServiceTerms:
    """The newest APPROVED, unexpired multilender job's terms; Refused when there is none."""
    jobs = session.evaluate("ListJobs", json.dumps({"state": "APPROVED"})) or []
    now = time.time()
    found = [ServiceTerms.from_job(j) for j in sorted(jobs, key=lambda j: j["created_at"])
             if j["protocol"] == NAME]
    found = [t for t in found if t.expires_at > now]
    if not found:
        raise Refused(
            "no multilender service job is approved on the ledger: the servers answer no "
            "lookup without one; request it with `alliance job request --protocol multilender "
            "...` and have every contributing member approve it", error_type="no_service_job")
    return found[-1]


def server_addresses(net_dir: Path, terms: ServiceTerms) -> tuple[tuple[str, str], ...]:
    from node.query.service import query_run_file, read_query_run_file

    out = []
    for org in terms.servers:
        data = read_query_run_file(net_dir, org)
        if data is None:
            raise Unreachable(
                f"the query server of {org} has never run here (no {query_run_file(net_dir, org)})",
                hint=f"start it with `alliance network up --dir {net_dir}` (the charter names "
                     f"{org} a query server)")
        out.append((org, f"127.0.0.1:{data['port']}"))
    return tuple(out)


def member_store(net_dir: Path, org: str) -> Any:
    from node.paths import node_dir
    from node.query.member_store import MemberStore

    return MemberStore(node_dir(net_dir, org) / "query-member")


def _passphrase(session: Session) -> bytes:
    from alliance.keystore import get_passphrase

    return session.passphrase or get_passphrase()


def _layout(terms: ServiceTerms) -> Any:
    """The table layout the servers run for `terms` (its size and contributors)."""
    from node.query.service import layout_of

    return layout_of(terms)


def _client(session: Session, terms: ServiceTerms, timeout: float = 10.0, *,
            salt: bool = True) -> Any:
    """A client of the two servers; with `salt`, holding the member's copy of the applicant-hash
    salt (fetched from server A the first time). Asking the servers' state needs none (and
    an auditor is handed none)."""
    from node.query.wiring import make_client

    servers = server_addresses(session.net_dir, terms)
    return make_client(session.net_dir, session.org, (servers[0], servers[1]),
                       None if salt else b"", _layout(terms), _passphrase(session),
                       timeout=timeout)


class _OwnRecords:
    """`contributed(version, hashed)` from the member's stored sent versions (own exclusion)."""

    def __init__(self, store: Any) -> None:
        self.store = store

    def contributed(self, version: int | None, hashed: bytes) -> Any:
        from node.query.errors import QueryError

        if version is None:
            return None
        try:
            return self.store.sent_record(version, hashed)
        except KeyError:
            raise QueryError(f"this node no longer keeps its contribution version {version}; "
                             "send the events again (`alliance query events`)") from None


# ---- lookup -----------------------------------------------------------------------------------

NEW_TABLE_EVERY = f"every {EPOCH_SECONDS:g} s by default"


@dataclass(frozen=True)
class LookupAnswer:
    applicant: str
    purpose: str
    aggregates: dict[str, int]
    epoch: int
    record: str
    """The id of the asker's kept record (for `alliance query audit`)."""
    missing: tuple[str, ...] = ()
    """The other contributors whose contribution the table did not hold yet: not counted."""
    seconds: float = 0.0
    """How long the lookup took over an open connection (both rounds at both servers)."""

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "missing": list(self.missing),
                "epoch_iso": iso(self.epoch / 1000)}

    def shown(self) -> dict[str, str]:
        """The answer as a person reads it (the CLI's table and the TUI's)."""
        return {**dict(_shown_field(k, v) for k, v in self.aggregates.items()),
                "table": f"{self.epoch}, formed {when(self.epoch / 1000)}",
                "record": self.record}

    def note(self) -> str:
        """Why the answer may undercount, or "": members whose contribution is not in it."""
        if not self.missing:
            return ""
        return (f"not counted: {', '.join(self.missing)} (no contribution in this table yet); "
                f"a contribution sent reaches lookups with the servers' next table "
                f"({NEW_TABLE_EVERY}) - ask again then")


def amount_text(cents: int) -> str:
    """An amount in cents as a person reads it: currency units, thousands separated."""
    return f"{cents / 100:,.2f}"


def _shown_field(name: str, value: int) -> tuple[str, str]:
    """A field as a person reads it: the outstanding amount in currency units (`--json` keeps
    the cents)."""
    if name == "outstanding_cents":
        return "outstanding", amount_text(value)
    return name, str(value)


def lookup(session: Session, applicant_id: str, purpose: str, consent_file: Path) -> LookupAnswer:
    """Aggregates over the other members for one applicant, asked with a consent commitment."""
    return lookup_many(session, [(applicant_id, Path(consent_file))], purpose)[0]


def _other_job(logged_under: str, asked_under: str) -> str:
    """The job a server logged a lookup under, kept only when it is not the asker's."""
    return logged_under if logged_under and logged_under != asked_under else ""


def lookup_many(session: Session, asks: Sequence[tuple[str, Path]],
                purpose: str) -> list[LookupAnswer]:
    """Several applicants (each with its own consent document) over one connection to the
    servers, as a lender's node keeps it: each answer says how long its lookup took. Every id
    and document is checked before anything is sent; a refusal ends the batch (the lookups
    before it are answered and kept in this node's records)."""
    from node.query import consent
    from node.query.errors import QueryRefused

    documents = [(applicant_id, _consent_document(applicant_id, path))
                 for applicant_id, path in asks]
    terms = service_terms(session)
    store = member_store(session.net_dir, session.org)
    answers = []
    with query_errors(session.net_dir):
        client = _client(session, terms)
        try:
            client.refresh_epoch()  # connects to both servers: not counted in a lookup's time
            for applicant_id, document in documents:
                nonces = [consent.new_nonce() for _ in terms.servers]
                commitments = tuple(consent.commit(n, document) for n in nonces)
                # kept before sending: a lookup that fails after a server logged it still
                # has the nonce that opens what that server logged
                sent = consent.LookupRecord(
                    terms.job_id, session.org, purpose, consent.document_digest(document),
                    [consent.ServerPart(server, nonce.hex(), commitment, at=int(time.time()))
                     for server, nonce, commitment in zip(terms.servers, nonces, commitments,
                                                          strict=True)])
                store.add_record(sent)
                started = time.perf_counter()
                try:
                    result = client.lookup(applicant_id, purpose,
                                           (commitments[0], commitments[1]),
                                           member=_OwnRecords(store))  # type: ignore[arg-type]
                except Exception as exc:
                    failed = exc.code if isinstance(exc, QueryRefused) else type(exc).__name__
                    store.add_record(replace(sent, failed=failed))
                    raise
                took = time.perf_counter() - started
                record = replace(sent, parts=[  # each server's log entry, as it answered
                    replace(part, seq=int(logged.get("seq", 0)), at=int(logged.get("at", 0)),
                            request=str(logged.get("request", "")),
                            job=_other_job(str(logged.get("job", "")), terms.job_id))
                    for part, logged in zip(sent.parts, result.logged, strict=True)])
                store.add_record(record)
                values = result.aggregates.as_dict()
                answered = [f for f in terms.fields if f in result.fields]
                answers.append(LookupAnswer(
                    applicant_id, purpose, {f: values[f] for f in answered}, result.epoch,
                    record_id(record),
                    not_counted(terms.contributors, result.versions, session.org), took))
        finally:
            client.close()
    return answers


def _consent_document(applicant_id: str, path: Path) -> bytes:
    """The applicant's consent document, read before anything is sent (BadInput or
    FileMissing saying what is wrong)."""
    if not applicant_id.strip():
        raise BadInput("--id is empty: give the applicant's id as your institution records it")
    path = Path(path)
    if not path.is_file():
        raise FileMissing(f"{path}: no such consent document; a lookup needs the applicant's "
                          "signed consent (--consent FILE)")
    document = path.read_bytes()
    if not document:
        raise BadInput(f"{path} is empty; a lookup needs the applicant's signed consent")
    return document


def not_counted(contributors: frozenset[str], versions: dict[str, int],
                asker: str) -> tuple[str, ...]:
    """The other contributors with no contribution in the table a lookup read (the asker's
    own is excluded from its answer anyway)."""
    return tuple(sorted(contributors - set(versions) - {asker}))


def record_id(record: Any) -> str:
    """An answered lookup's by its signed request; one never answered by its commitment."""
    digest = record.parts[0].request if record.answered else record.parts[0].commitment
    return "lk-" + digest.removeprefix("sha256:")[:16]


# ---- events -----------------------------------------------------------------------------------


def parse_events(path: Path) -> list[Any]:
    """A loan-events CSV: kind,applicant_id,date,loan_id,amount_cents (date YYYY-MM-DD)."""
    from node.query.contribution import EventKind, LoanEvent

    if not Path(path).is_file():
        raise FileMissing(f"{path}: no such events file")
    events = []
    with open(path, newline="", encoding="utf-8") as source:
        reader = csv.DictReader(source)
        missing = [c for c in EVENT_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise BadInput(f"{path} lacks column(s) {', '.join(missing)}; its header must be "
                           f"{','.join(EVENT_COLUMNS)}")
        for line, row in enumerate(reader, start=2):
            try:
                kind = EventKind(row["kind"].strip())
                day = (dt.date.fromisoformat(row["date"].strip()) - dt.date(1970, 1, 1)).days
                amount = int(row["amount_cents"].strip() or 0)
            except ValueError as exc:
                kinds = ", ".join(k.value for k in EventKind)
                raise BadInput(f"{path} line {line}: {exc} (kind is one of {kinds}; date is "
                               "YYYY-MM-DD; amount_cents a whole number)") from exc
            if not row["applicant_id"].strip():
                raise BadInput(f"{path} line {line}: applicant_id is empty")
            events.append(LoanEvent(kind, row["applicant_id"].strip(), day,
                                    row["loan_id"].strip(), amount))
    return events


def feed_events(session: Session, path: Path | None, today: int | None = None,
                on_progress: ProgressFn = no_progress) -> dict[str, Any]:
    """Add a member's loan events (none: re-share the current book; the node also does that
    each new UTC day, node/query/daily_reshare.py) and send its new contribution to both servers
    (secret-shared: neither server learns which applicants changed, nor whether anything did)."""
    from node.query.errors import ContributionError
    from node.query.feeding import push_book, utc_day

    events = parse_events(Path(path)) if path is not None else []
    terms = service_terms(session)
    if session.org not in terms.contributors:
        raise Refused(f"{session.org} is not a contributing member of {terms.job_id} "
                      f"(contributors: {', '.join(sorted(terms.contributors))})",
                      error_type="not_contributor")
    day = today if today is not None else utc_day(time.time())
    with query_errors(session.net_dir):
        client = _client(session, terms, timeout=30.0)
        try:
            pushed = push_book(member_store(session.net_dir, session.org),
                               client.salt, _layout(terms), client, events, day,
                               lambda task: on_progress(Progress(task)))
        except ContributionError as exc:
            raise BadInput(f"{path}: {exc}; nothing was stored or sent") from exc
        finally:
            client.close()
    return {"events": pushed.events, "applicants": pushed.applicants,
            "version": pushed.version, "servers": list(terms.servers)}


VISIBLE_POLL_SECONDS = 1.0


def wait_visible(session: Session, version: int, timeout: float = 120.0,
                 on_progress: ProgressFn = no_progress,
                 clock: Callable[[], float] = time.monotonic) -> dict[str, Any]:
    """Wait until both servers serve a table holding this member's contribution `version` (or
    a newer one): from then on lookups count it. Its epoch and how long it took; WaitTimedOut
    after `timeout` seconds (the servers keep forming tables; nothing is lost by waiting)."""
    from node.query.errors import EpochUnavailable

    terms = service_terms(session)
    started = clock()
    task = f"waiting for the servers' next table to hold contribution version {version}"
    with query_errors(session.net_dir):
        client = _client(session, terms, salt=False)
        try:
            while True:
                try:
                    epoch, _, versions = client.refresh_epoch()
                except EpochUnavailable:
                    epoch, versions = 0, {}
                waited = clock() - started
                if versions.get(session.org, 0) >= version:
                    on_progress(Progress(task, finished=True))
                    return {"visible_in_epoch": epoch, "visible_after_s": round(waited, 1)}
                if waited >= timeout:
                    raise WaitTimedOut(
                        f"after {waited:.0f} s the servers' table still holds no contribution "
                        f"version {version} of {session.org} (it is stored at both servers "
                        "and will be in a later table)",
                        hint="check the servers with `alliance network status`; wait longer "
                             "with `alliance query events --wait --timeout SECONDS` (no file: "
                             "re-shares the same book)")
                on_progress(Progress(task, done=waited, total=timeout))
                time.sleep(VISIBLE_POLL_SECONDS)
        finally:
            client.close()


def fed_summary(report: dict[str, Any]) -> str:
    """What `feed_events` did, in one sentence (the CLI's and the TUI's)."""
    sent = (f"{report['events']} event(s) added; contribution version {report['version']} "
            f"({report['applicants']} applicant(s)) sent to {', '.join(report['servers'])}; ")
    if "visible_in_epoch" in report:
        return sent + (f"lookups count it from table {report['visible_in_epoch']} "
                       f"(after {report['visible_after_s']:g} s)")
    return sent + (f"lookups see it from the servers' next table ({NEW_TABLE_EVERY}; "
                   "`--wait` waits for it)")


# ---- audit ------------------------------------------------------------------------------------


def find_record(net_dir: Path, org: str, wanted: str) -> Any:
    records = [r for r in member_store(net_dir, org).records()
               if record_id(r).startswith(wanted)]
    if len(records) != 1:
        raise BadInput(f"{'no' if not records else 'more than one'} lookup record of {org} "
                       f"matches {wanted!r}; `alliance query records` lists them")
    return records[0]


def audit(session: Session, wanted: str, consent_file: Path) -> dict[str, Any]:
    """Prove that lookup `wanted` (a record id of this org) was made with the consent in
    `consent_file`: the commitments open, and each server's log entry is in the Merkle root it
    committed to the ledger. Refused when any check fails."""
    from alliance.fingerprint import verify_merkle_proof
    from node.query import consent

    record = find_record(session.net_dir, session.org, wanted)
    if not record.answered:
        raise Refused(
            f"lookup {wanted} was sent {when(record.parts[0].at)} and never answered, so no "
            "server returned its log entry to prove; a server that logged it holds one of its "
            "commitments, which its kept nonce opens with the consent document",
            error_type="not_answered",
            hint=f"`alliance query records --json` shows {wanted}'s commitments and nonces")
    path = Path(consent_file)
    if not path.is_file():
        raise FileMissing(f"{path}: no such consent document")
    document = path.read_bytes()
    if consent.document_digest(document) != record.consent_digest:
        raise Refused(f"{path} is not the consent document lookup {wanted} was made with",
                      error_type="consent_mismatch")
    summaries = {job: session.evaluate("ListQuerySummaries", job) or []
                 for job in {part.job or record.job_id for part in record.parts}}
    terms = service_terms(session)
    proven = []
    with query_errors(session.net_dir):
        client = _client(session, terms, salt=False)  # proofs name no applicant
        try:
            for index, part in enumerate(record.parts):
                if not consent.opens(part.commitment, bytes.fromhex(part.nonce), document):
                    raise Refused(f"the commitment sent to {part.server} does not open with this "
                                  "document and the kept nonce", error_type="consent_mismatch")
                job = part.job or record.job_id
                summary = next((s for s in summaries[job] if s["server"] == part.server
                                and s["period_start"] <= part.at < s["period_end"]), None)
                if summary is None:
                    period = terms.period_seconds
                    ends = (part.at // period + 1) * period
                    raise Refused(
                        f"{part.server} has not committed the period holding this lookup yet "
                        f"(made {when(part.at)}; its period of {period} s ends {when(ends)}, "
                        "and each server commits a period's summary when it ends)",
                        error_type="not_committed",
                        hint=f"run `alliance query audit {wanted} --consent {path}` again "
                             "after that")
                leaf_index, steps = client.proof(index, summary["period_start"],
                                                 summary["period_end"], part.seq)
                leaf = part.entry(record.asker, record.purpose).leaf()
                if not verify_merkle_proof(leaf, steps, summary["merkle_root"]):
                    raise Refused(f"{part.server}'s log entry does not hash to the root it "
                                  "committed to the ledger", error_type="proof_failed")
                proven.append({"server": part.server, "job_id": job, "seq": part.seq,
                               "at": part.at,
                               "leaf_index": leaf_index, "merkle_root": summary["merkle_root"],
                               "summary_tx": summary["tx_id"], "commitment": part.commitment,
                               "nonce": part.nonce, "request": part.request,
                               "period_start": summary["period_start"],
                               "period_end": summary["period_end"],
                               "path": [[st.sibling.hex(), st.sibling_on_left] for st in steps]})
        finally:
            client.close()
    return {"record": record_id(record), "job_id": record.job_id, "asker": record.asker,
            "purpose": record.purpose, "consent": record.consent_digest, "verified": True,
            "servers": proven}


_BUNDLE_PART = ("server", "commitment", "nonce", "seq", "at", "request", "period_start",
                "merkle_root", "path")
"""What `verify_bundle` reads of each server's part of a bundle (`job_id` is optional: the
bundle's own when absent)."""


def verify_bundle(session: Session, bundle_file: Path, consent_file: Path) -> dict[str, Any]:
    """An auditor's check of an asker's `query audit --json` output (the bundle) and the consent
    document, against the ledger alone (no query server): each commitment opens with the kept
    nonce and the document, and each Merkle path leads from the logged entry to the root the
    server committed for that period. Refused when any check fails."""
    from alliance.fingerprint import ProofStep, verify_merkle_proof
    from node.query import consent
    from node.query.authorize import LogEntry

    for path in (Path(bundle_file), Path(consent_file)):
        if not path.is_file():
            raise FileMissing(f"{path}: no such file")
    try:
        bundle = json.loads(Path(bundle_file).read_text())
        parts = bundle["servers"]
        job_id, asker, purpose = bundle["job_id"], bundle["asker"], bundle["purpose"]
        for part in parts:
            missing = [key for key in _BUNDLE_PART if key not in part]
            if missing:
                raise KeyError(f"a server's part has no {', '.join(missing)}")
    except (ValueError, KeyError, TypeError) as exc:
        raise BadInput(f"{bundle_file} is not the output of `alliance query audit --json`: "
                       f"{exc}") from exc
    document = Path(consent_file).read_bytes()
    committed: dict[str, list[dict[str, Any]]] = {}
    checked = []
    for part in parts:
        job = str(part.get("job_id") or job_id)  # the job the server logged it under
        if job not in committed:
            committed[job] = session.evaluate("ListQuerySummaries", job) or []
        if not consent.opens(part["commitment"], bytes.fromhex(part["nonce"]), document):
            raise Refused(f"the commitment logged by {part['server']} does not open with this "
                          "consent document", error_type="consent_mismatch")
        summary = next((c for c in committed[job] if c["server"] == part["server"]
                        and c["period_start"] == part["period_start"]), None)
        if summary is None or summary["merkle_root"] != part["merkle_root"]:
            raise Refused(f"no summary of {part['server']} for {part['period_start']} with root "
                          f"{part['merkle_root']} is on the ledger", error_type="not_committed")
        leaf = LogEntry(part["seq"], part["at"], asker, purpose, part["commitment"],
                        part["request"]).leaf()
        steps = [ProofStep(bytes.fromhex(h), bool(left)) for h, left in part["path"]]
        if not (summary["period_start"] <= part["at"] < summary["period_end"]
                and verify_merkle_proof(leaf, steps, summary["merkle_root"])):
            raise Refused(f"{part['server']}'s log entry is not in the root it committed",
                          error_type="proof_failed")
        checked.append({"server": part["server"], "job_id": job,
                        "summary_tx": summary["tx_id"]})
    if len(checked) != 2 or len({c["server"] for c in checked}) != 2:
        raise Refused("the bundle must prove the lookup at both query servers, once each",
                      error_type="proof_failed")
    return {"job_id": job_id, "asker": asker, "purpose": purpose, "verified": True,
            "consent": consent.document_digest(document), "servers": checked}


def records(net_dir: Path, org: str) -> list[dict[str, Any]]:
    """Each kept lookup; one never answered also shows the commitments sent and their nonces
    (what opens a server's log entry of it)."""
    out = []
    for r in member_store(net_dir, org).records():
        row = {"record": record_id(r), "job_id": r.job_id, "purpose": r.purpose,
               "at": r.parts[0].at if r.parts else 0, "answered": r.answered}
        if not r.answered:
            row["failed"] = r.failed or "unknown"
            row["sent"] = [{"server": p.server, "commitment": p.commitment, "nonce": p.nonce}
                           for p in r.parts]
        out.append(row)
    return out


def summaries(session: Session) -> list[dict[str, Any]]:
    terms = service_terms(session)
    return list(session.evaluate("ListQuerySummaries", terms.job_id) or [])


# ---- network ----------------------------------------------------------------------------------


def charter_servers(net_dir: Path) -> tuple[str, ...]:
    """The query servers named by the charter on the ledger (none when it cannot be read)."""
    from alliance.charter import Charter
    from alliance.profile import load_profile
    from network.connection import connect_member

    profile = load_profile(net_dir)
    voters = [o for o in profile.member_orgs() if "member" in profile.orgs[o].roles]
    if not voters:
        return ()
    try:
        with connect_member(net_dir, voters[0], "node") as conn:
            charter = Charter.from_json(conn.contract.evaluate_transaction("GetCharter"))
    except Exception:  # no charter in effect yet, or the ledger is down: no servers to start
        return ()
    return charter.query_servers


# ---- the service at a glance (the TUI's query screen) -----------------------------------------


@dataclass(frozen=True)
class ServerState:
    """One query server as `network status` shows it (running or not, where it listens), with
    the newest table epoch it holds and the service job it enforces (asked over its Status call
    when both servers run; None when not known)."""

    org: str
    role: str
    """"A" or "B" in the service's terms ("" when no service job names it)."""
    running: bool
    address: str | None
    epoch: int | None = None
    enforces: str | None = None
    """The multilender job id the server read from the ledger (None: it knows of none)."""
    problem: str = ""
    """Why the epoch could not be asked ("" when it was, or the server is not running)."""
    used_today: int | None = None
    """This org's lookups the server logged on its current UTC day: the count its daily quota
    is checked against (None when not asked; a server tells each member only its own)."""


@dataclass(frozen=True)
class ServiceState:
    """What a member admin or a risk officer checks before looking anyone up."""

    terms: ServiceTerms | None
    missing: str
    """Why there is no service (the no-service-job message with the command to request one);
    "" when `terms` is set."""
    servers: tuple[ServerState, ...]
    org: str
    kept_today: int
    """This org's lookups kept in this node folder for the current UTC day (lookups made from
    elsewhere are not among them: the servers' counts are in `counted_today`)."""

    @property
    def quota(self) -> int | None:
        return self.terms.quota_of(self.org) if self.terms else None

    @property
    def may_ask(self) -> bool:
        return self.terms is not None and self.org in self.terms.members

    @property
    def contributes(self) -> bool:
        return self.terms is not None and self.org in self.terms.contributors

    @property
    def counted_today(self) -> dict[str, int]:
        """Each server's count of this org's lookups today (UTC), those that told it: the
        counts its quota is checked against, on each server apart."""
        return {s.org: s.used_today for s in self.servers if s.used_today is not None}


def service_state(session: Session, now: float | None = None) -> ServiceState:
    """The service job's terms (or why there is none), each query server's state (with its count
    of this org's lookups today), and how many lookups this node kept today (UTC)."""
    try:
        terms: ServiceTerms | None = service_terms(session)
        missing = ""
    except Refused as exc:
        if exc.error_type != "no_service_job":
            raise
        terms, missing = None, str(exc)
    return ServiceState(terms, missing, server_states(session, terms), session.org,
                        lookups_today(session.net_dir, session.org, now))


def server_states(session: Session, terms: ServiceTerms | None) -> tuple[ServerState, ...]:
    """The servers the service job names (without one, those the charter names), each running
    or not as `network status` shows it; with both running, the newest epoch each holds."""
    from alliance.app.network import query_component

    if terms is not None:
        orgs: tuple[str, ...] = terms.servers
    else:
        charter = session.evaluate("GetCharter") or {}
        orgs = tuple(charter.get("query_servers") or ())
    roles = {org: "AB"[i] if terms is not None else "" for i, org in enumerate(orgs)}
    shown = {org: query_component(session.net_dir, org) for org in orgs}
    states = {org: ServerState(org, roles[org], c.running, c.endpoint) for org, c in shown.items()}
    if terms is None:
        return tuple(states.values())
    down = [s.org for s in states.values() if not s.running]
    if down:
        problem = f"not asked: the query server of {', '.join(down)} is not running"
        return tuple(replace(s, problem=problem) if s.running else s for s in states.values())
    try:
        with query_errors(session.net_dir):
            client = _client(session, terms, timeout=5.0, salt=False)
            try:
                statuses = client.status()
            finally:
                client.close()
    except AppError as exc:
        return tuple(replace(s, problem=str(exc)) for s in states.values())
    out = []
    for org, status in zip(orgs, statuses, strict=True):
        epochs = [int(e["epoch"]) for e in status.get("epochs") or ()]
        out.append(replace(states[org], epoch=max(epochs) if epochs else None,
                           enforces=(status.get("policy") or {}).get("job"),
                           used_today=own_count(status, session.org)))
    return tuple(out)


def own_count(status: dict[str, Any], org: str) -> int | None:
    """`org`'s lookups today as a server's Status tells them (None: a server that does not)."""
    used = status.get("used_today") or {}
    return int(used["lookups"]) if used.get("org") == org and "lookups" in used else None


def lookups_today(net_dir: Path, org: str, now: float | None = None) -> int:
    """This org's kept lookup records made on the current UTC day."""
    day = int((time.time() if now is None else now) // 86400)
    return sum(1 for r in kept_records(net_dir, org) if r["at"] and int(r["at"]) // 86400 == day)


def kept_records(net_dir: Path, org: str) -> list[dict[str, Any]]:
    """`records`, newest first, without making the member's folder when it has none (an
    auditor's, an org that never looked anyone up)."""
    from node.paths import node_dir

    if not (node_dir(net_dir, org) / "query-member").is_dir():
        return []
    return sorted(records(net_dir, org), key=lambda r: r["at"], reverse=True)
