"""The multi-lender query service over real gRPC with mutual TLS: two servers (bank = A, telecom
= B), members bank, telecom, platform and insurer (the servers' members contribute; platform and
insurer ask), the auditor regulator as an outsider."""

from __future__ import annotations

import random
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pytest

from node.query import dpf, lookup_body, matching, record, table
from node.query import server as server_module
from node.query.authorize import PolicyAuthorizer, QueryPolicy
from node.query.client import FirstRound, Member, QueryClient, _Ask
from node.query.contribution import Contribution, EventKind, LoanBook, LoanEvent
from node.query.errors import (
    ContributionError,
    ProtocolError,
    QueryError,
    QueryRefused,
    ServerUnavailable,
)
from node.query.layout import Layout, hash_applicant
from node.query.record import FIELDS, LANES, RECORD_BYTES, Aggregates
from node.query.server import Peer, QueryServer
from node.query.wire import decode, unpack
from node.query.wiring import make_client, make_server

MEMBERS = ("bank", "telecom", "platform", "insurer")
ASKERS = ("platform", "insurer")
"""Contributors; bank and telecom run the servers, so only platform and insurer ask."""
SALT = b"the-alliance-wide-applicant-salt"
LAYOUT = Layout.of(10, MEMBERS)
BLOCKS = Layout.of_blocks(3, MEMBERS)
"""A table sized in mask blocks: parts of 3 x 1,024 slots under a DPF domain of 2^12."""
CONSENT = "sha256:" + "ab" * 32
TODAY = 20_000


@dataclass
class Service:
    net_dir: Path
    folder: Path
    passphrase: bytes
    quota: int = 1000
    layout: Layout = LAYOUT
    fields: tuple[str, ...] = FIELDS
    servers: list[QueryServer] = field(default_factory=list)
    clients: dict[str, QueryClient] = field(default_factory=dict)

    def policy(self) -> PolicyAuthorizer:
        quotas = {"platform": self.quota}
        return PolicyAuthorizer(QueryPolicy(frozenset(MEMBERS), frozenset({"credit_check"}),
                                            1000, quotas, self.fields))

    def start(self) -> None:
        b = make_server(self.net_dir, "telecom", "b", "bank", "", self.layout, self.folder / "b",
                        self.policy(), self.passphrase, epoch_seconds=3600).start()
        a = make_server(self.net_dir, "bank", "a", "telecom", f"127.0.0.1:{b.port}", self.layout,
                        self.folder / "a", self.policy(), self.passphrase,
                        epoch_seconds=3600).start()
        b.peer = Peer("bank", f"127.0.0.1:{a.port}", b.peer.root_certs)
        self.servers = [a, b]
        for client in self.clients.values():
            client.close()
        self.clients = {}

    def stop(self) -> None:
        for server in self.servers:
            server.stop(0)
        for client in self.clients.values():
            client.close()
        self.clients = {}

    def client(self, org: str) -> QueryClient:
        if org not in self.clients:
            a, b = self.servers
            self.clients[org] = make_client(
                self.net_dir, org, (("bank", f"127.0.0.1:{a.port}"),
                                    ("telecom", f"127.0.0.1:{b.port}")),
                SALT, self.layout, self.passphrase, timeout=30)
        return self.clients[org]

    def epoch(self) -> None:
        self.servers[0].form_epoch()
        for client in self.clients.values():
            client.refresh_epoch()


@pytest.fixture
def service(query_network_dir: Path, passphrase: bytes, tmp_path: Path,
            request: pytest.FixtureRequest) -> Iterator[Service]:
    """Servers of LAYOUT, or of the layout a test passes indirectly."""
    svc = Service(query_network_dir, tmp_path, passphrase,
                  layout=getattr(request, "param", LAYOUT))
    svc.start()
    yield svc
    svc.stop()


def random_events(rng: random.Random, applicants: list[str]) -> dict[str, list[LoanEvent]]:
    """Each member's own event stream over 40 days ending on TODAY."""
    streams: dict[str, list[LoanEvent]] = {}
    for member in MEMBERS:
        events: list[LoanEvent] = []
        open_loans: dict[str, str] = {}
        for n in range(120):
            day = TODAY - 40 + n // 3
            applicant = rng.choice(applicants)
            kind = rng.random()
            if kind < 0.4:
                events.append(LoanEvent(EventKind.APPLICATION, applicant, day))
            elif kind < 0.7 or not open_loans:
                loan = f"{member}-{n}"
                open_loans[loan] = applicant
                events.append(LoanEvent(EventKind.LOAN_OPENED, applicant, day, loan,
                                        rng.randrange(1, 10**7)))
            else:
                loan = rng.choice(sorted(open_loans))
                if rng.random() < 0.5:
                    events.append(LoanEvent(EventKind.AMOUNT_CHANGED, open_loans[loan], day,
                                            loan, rng.randrange(0, 10**7)))
                else:
                    events.append(LoanEvent(EventKind.LOAN_CLOSED, open_loans.pop(loan), day,
                                            loan))
        streams[member] = events
    return streams


def oracle(streams: dict[str, list[LoanEvent]], asker: str, applicant: str,
           today: int) -> Aggregates:
    """The plaintext answer, computed straight from the events of every other member."""
    total = defaultdict(int)
    for member, events in streams.items():
        if member == asker:
            continue
        loans: dict[str, tuple[str, int]] = {}
        apps: list[int] = []
        for e in events:
            if e.kind is EventKind.APPLICATION and e.applicant_id == applicant:
                apps.append(e.day)
            elif e.kind in (EventKind.LOAN_OPENED, EventKind.AMOUNT_CHANGED):
                loans[e.loan_id] = (e.applicant_id, e.amount_cents)
            elif e.kind is EventKind.LOAN_CLOSED:
                loans.pop(e.loan_id)
        mine = [amount for who, amount in loans.values() if who == applicant]
        total["active_loans"] += len(mine)
        total["distinct_lenders"] += 1 if mine else 0
        total["outstanding_cents"] += sum(mine)
        total["applications_7d"] += sum(1 for d in apps if today - 7 < d <= today)
        total["applications_30d"] += sum(1 for d in apps if today - 30 < d <= today)
    return Aggregates(**total)


def contribute_all(service: Service, streams: dict[str, list[LoanEvent]], today: int,
                   version: int, members: dict[str, Member] | None = None) -> dict[str, Member]:
    if members is None:
        members = {}
        for org, events in streams.items():
            members[org] = Member(LoanBook(SALT, service.layout, org))
            members[org].book.ingest_many(events)
    for org, member in members.items():
        service.client(org).contribute(member.prepare(today, version))
    return members


@pytest.mark.parametrize("service", [LAYOUT, BLOCKS], indirect=True,
                         ids=["power-of-two", "blocks"])
def test_every_member_gets_the_plaintext_answer_over_the_others(service: Service) -> None:
    rng = random.Random(7)
    applicants = [f"applicant-{i}" for i in range(30)]
    streams = random_events(rng, applicants)
    members = contribute_all(service, streams, TODAY, 1)
    service.epoch()
    for asker in ASKERS:
        for applicant in [*applicants, "never-seen"]:
            got = service.client(asker).lookup(applicant, "credit_check", CONSENT,
                                               members[asker])
            assert got.aggregates == oracle(streams, asker, applicant, TODAY), (asker, applicant)


def test_the_servers_answer_only_the_policys_fields(service: Service) -> None:
    service.stop()
    service.fields = ("active_loans", "applications_7d")
    service.start()
    rng = random.Random(13)
    applicants = [f"applicant-{i}" for i in range(30)]
    streams = random_events(rng, applicants)
    members = contribute_all(service, streams, TODAY, 1)
    service.epoch()
    for asker in ASKERS:
        for applicant in applicants:
            got = service.client(asker).lookup(applicant, "credit_check", CONSENT,
                                               members[asker])
            assert got.fields == service.fields
            assert got.aggregates == oracle(streams, asker, applicant, TODAY).only(
                service.fields), (asker, applicant)


def test_a_client_asking_a_withheld_field_in_round_two_is_refused(service: Service) -> None:
    """A modified client that builds its second round for every field: the servers compute
    shares of the answered fields only, and refuse the rest outright."""
    service.stop()
    service.fields = ("active_loans",)
    service.start()
    service.epoch()
    client = service.client("insurer")
    client.refresh_epoch()
    first = client.first_round("zoe", "credit_check", CONSENT)
    assert first.answered == ("active_loans",)
    with pytest.raises(QueryRefused) as refused:
        client.second_round(first, FIELDS)
    assert refused.value.code == "field_not_answered"


def _first(service: Service, org: str = "insurer") -> FirstRound:
    service.epoch()
    client = service.client(org)
    client.refresh_epoch()
    return client.first_round("zoe", "credit_check", CONSENT)


def test_a_second_round_is_answered_once(service: Service) -> None:
    first = _first(service)
    client = service.client("insurer")
    client.second_round(first, first.answered)
    with pytest.raises(QueryRefused) as refused:
        client.second_round(first, first.answered)
    assert refused.value.code == "unknown_lookup"


def test_another_member_cannot_finish_a_lookup(service: Service) -> None:
    first = _first(service, "insurer")
    with pytest.raises(QueryRefused) as refused:
        service.client("platform").second_round(first, first.answered)
    assert refused.value.code == "unknown_lookup"


def test_a_member_removed_between_its_rounds_gets_no_second(service: Service) -> None:
    first = _first(service, "insurer")
    without = QueryPolicy(frozenset(MEMBERS) - {"insurer"}, frozenset({"credit_check"}), 1000)
    for server in service.servers:
        server.authorizer = PolicyAuthorizer(without)
    with pytest.raises(QueryRefused) as refused:
        service.client("insurer").second_round(first, first.answered)
    assert refused.value.code == "not_member"


def _slots_of_d(cols: np.ndarray, layout: Layout, positions: list[int]) -> np.ndarray:
    """D at a lookup's slots (uint64, (parts, LANES)): the server's own answer to selections
    that pick one slot per part in the clear."""
    picks = np.zeros((1, len(positions), layout.part_words), dtype=np.uint64)
    for part, position in enumerate(positions):
        picks[0, part, position // 64] = np.uint64(1) << np.uint64(position % 64)
    return table.answer(cols, picks)[0]


def test_whoever_holds_d_reads_each_members_record_from_an_answers_masks(
        service: Service) -> None:
    """Why neither server's member may ask: a lookup gives its asker the masks R at its slots,
    and a server holds D = T XOR R whole, so D XOR R shows each member's record of the applicant
    one by one (which members lend, how much), not only their sum."""
    streams = {"bank": [LoanEvent(EventKind.LOAN_OPENED, "zoe", TODAY, "B1", 5000)],
               "telecom": [LoanEvent(EventKind.LOAN_OPENED, "zoe", TODAY, "T1", 700)],
               "platform": [LoanEvent(EventKind.APPLICATION, "zoe", TODAY)]}
    members = contribute_all(service, streams, TODAY, 1)
    first = _first(service, "insurer")  # what an asker holds after round 1
    epoch = service.servers[0].tables.current()  # what server A holds
    assert epoch is not None and epoch.number == first.epoch
    positions, tag = service.layout.locate(first.hashed)
    records = _slots_of_d(epoch.cols, service.layout, positions) ^ first.masks
    found = {}
    for org in streams:
        segment = service.layout.segment_of(org)
        own = records[segment * 3:segment * 3 + 3]
        ours = [r for r in own if int(record.field(r, "tag")) == tag]
        assert len(ours) == 1, org
        found[org] = Aggregates(**{f: int(record.field(ours[0], f)) for f in FIELDS})
    assert found == {org: members[org].contributed(1, first.hashed) for org in streams}
    assert found["bank"] == Aggregates(1, 1, 5000, 0, 0)  # bank's own loan, apart


def test_the_servers_refuse_a_lookup_by_either_servers_member(service: Service) -> None:
    """Even under a policy that lets them ask (this test's names every member), and from a
    client that skips its own check: refused by both servers before anything is logged."""
    service.epoch()
    for org in ("bank", "telecom"):
        client = service.client(org)
        client.refresh_epoch()
        (result,) = client._first_rounds([client._ask("zoe", "credit_check", CONSENT)])
        assert isinstance(result, QueryRefused) and result.code == "server_may_not_ask", org
        assert "runs a query server" in str(result)
    assert [s.summary(0, 2**40).entries for s in service.servers] == [0, 0]


def test_a_servers_member_is_told_before_anything_is_sent(
        service: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    service.epoch()
    client = service.client("bank")
    sent: list[str] = []
    monkeypatch.setattr(client, "_invoke", lambda index, method, message: sent.append(method))
    for ask in (lambda: client.lookup("zoe", "credit_check", CONSENT),
                lambda: client.first_round("zoe", "credit_check", CONSENT)):
        with pytest.raises(QueryRefused, match="ask from a member that runs no query server"):
            ask()
    assert sent == []


def test_halves_of_another_lookup_do_not_open(service: Service) -> None:
    one, two = _first(service), _first(service)
    mixed = replace(one, halves=(one.halves[0], two.halves[1]))
    with pytest.raises(ProtocolError, match="does not open"):
        service.client("insurer").second_round(mixed, one.answered)


def test_a_second_round_too_late_is_refused(service: Service,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server_module, "PENDING_SECONDS", -1.0)
    first = _first(service)
    with pytest.raises(QueryRefused) as refused:
        service.client("insurer").second_round(first, first.answered)
    assert refused.value.code == "unknown_lookup"


def test_a_field_only_one_server_answers_is_not_reported(service: Service) -> None:
    """Servers reading different policies (one read the ledger before a change, one after):
    only the fields both answered are exact, so only those are reported."""
    streams = {"telecom": [LoanEvent(EventKind.LOAN_OPENED, "kim", TODAY, "T3", 777),
                           LoanEvent(EventKind.APPLICATION, "kim", TODAY)]}
    contribute_all(service, streams, TODAY, 1)
    service.epoch()
    policy = service.policy().policy
    service.servers[0].authorizer = PolicyAuthorizer(replace(
        policy, fields=("active_loans", "outstanding_cents")))
    service.servers[1].authorizer = PolicyAuthorizer(replace(
        policy, fields=("outstanding_cents", "applications_30d")))
    got = service.client("insurer").lookup("kim", "credit_check", CONSENT)
    assert got.fields == ("outstanding_cents",)
    assert got.aggregates == Aggregates(outstanding_cents=777)


def test_windows_roll_when_members_re_share_days_later(service: Service) -> None:
    rng = random.Random(11)
    applicants = [f"applicant-{i}" for i in range(20)]
    streams = random_events(rng, applicants)
    members = contribute_all(service, streams, TODAY, 1)
    later = TODAY + 8
    contribute_all(service, streams, later, 2, members)
    service.epoch()
    for applicant in applicants:
        got = service.client("insurer").lookup(applicant, "credit_check", CONSENT,
                                               members["insurer"])
        assert got.aggregates == oracle(streams, "insurer", applicant, later)


def test_epochs_after_one_member_re_shares_or_none_does_stay_exact(service: Service) -> None:
    """A server updates its share with the changed members only (fewer loads than summing all
    anew); every epoch must still answer what the events say."""
    rng = random.Random(13)
    applicants = [f"applicant-{i}" for i in range(20)]
    streams = random_events(rng, applicants)
    members = contribute_all(service, streams, TODAY, 1)
    service.epoch()
    streams["telecom"].append(LoanEvent(EventKind.LOAN_OPENED, "applicant-3", TODAY, "T-new",
                                        777))
    members["telecom"].book.ingest_many(streams["telecom"][-1:])
    contribute_all(service, streams, TODAY, 2, {"telecom": members["telecom"]})
    for _ in range(2):  # telecom changed, then nobody
        service.epoch()
        for applicant in applicants:
            got = service.client("insurer").lookup(applicant, "credit_check", CONSENT,
                                                members["insurer"])
            assert got.aggregates == oracle(streams, "insurer", applicant, TODAY), applicant


def test_server_a_stores_a_members_segment_and_nothing_wider(service: Service) -> None:
    """The rest of the table is other members' segments, where a contribution is zero: it is
    never sent nor stored, so storage and traffic grow with the table, not contributors x
    table."""
    streams = {"telecom": [LoanEvent(EventKind.LOAN_OPENED, "zoe", TODAY, "T1", 4200)]}
    contribute_all(service, streams, TODAY, 1)
    stored = list((service.servers[0].store.folder / "contrib").iterdir())
    assert [p.stat().st_size for p in stored] == [service.layout.segment_slots * RECORD_BYTES]
    assert service.layout.slots == len(service.layout.members) * service.layout.segment_slots


def test_a_contribution_wider_than_the_segment_is_refused_before_it_is_sent(
    service: Service
) -> None:
    whole = Contribution(1, np.zeros((service.layout.slots, LANES), np.uint64), b"s" * 16)
    with pytest.raises(ContributionError, match="this member's segment"):
        service.client("telecom").contribute(whole)
    assert [s.store.versions() for s in service.servers] == [{}, {}]


def test_the_asker_needs_no_contribution_to_ask(service: Service) -> None:
    streams = {"telecom": [LoanEvent(EventKind.LOAN_OPENED, "zoe", TODAY, "T1", 4200)]}
    contribute_all(service, streams, TODAY, 1)
    service.epoch()
    got = service.client("platform").lookup("zoe", "credit_check", CONSENT)
    assert got.aggregates == Aggregates(1, 1, 4200, 0, 0)


@pytest.mark.parametrize(("org", "purpose", "consent", "code"), [
    ("regulator", "credit_check", CONSENT, "not_member"),
    ("insurer", "marketing", CONSENT, "bad_purpose"),
    ("insurer", "credit_check", "", "no_consent"),
    ("insurer", "credit_check", "sha256:xyz", "no_consent"),
])
def test_servers_refuse_outsiders_bad_purposes_and_missing_consent(
        service: Service, org: str, purpose: str, consent: str, code: str) -> None:
    service.epoch()
    with pytest.raises(QueryRefused) as refused:
        service.client(org).lookup("zoe", purpose, consent)
    assert refused.value.code == code
    assert service.servers[0].store.used(org, int(time.time() // 86400)) == 0


def test_a_member_over_its_daily_quota_is_refused(service: Service) -> None:
    service.stop()
    service.quota = 2
    service.start()
    service.epoch()
    client = service.client("platform")
    for _ in range(2):
        client.lookup("zoe", "credit_check", CONSENT)
    with pytest.raises(QueryRefused, match="used its 2 queries") as refused:
        client.lookup("zoe", "credit_check", CONSENT)
    assert refused.value.code == "over_quota"
    service.client("insurer").lookup("zoe", "credit_check", CONSENT)  # others are not affected


def test_a_server_restart_keeps_the_query_log_and_the_quota_count(service: Service) -> None:
    service.stop()
    service.quota = 2
    service.start()
    service.epoch()
    for _ in range(2):
        service.client("platform").lookup("zoe", "credit_check", CONSENT)
    service.stop()
    service.start()  # every answered query was logged before it was answered
    service.epoch()
    assert [s.summary(0, 2**40).counts.get("platform") for s in service.servers] == [2, 2]
    with pytest.raises(QueryRefused) as refused:
        service.client("platform").lookup("zoe", "credit_check", CONSENT)
    assert refused.value.code == "over_quota"


def test_a_member_revoked_or_removed_after_its_lookups_is_refused_at_once(
        service: Service) -> None:
    """The servers remember accepted TLS and signing certificates for a while; the ledger's
    revocations and removals still apply to the very next request."""
    from alliance.identity import Identity
    from alliance.protocols.multilender import ServiceTerms
    from alliance.wallet import user_tls
    from node.query.governance import LedgerAuthorizer, LedgerPolicy

    job = {"id": "job-1", "protocol": "multilender", "created_at": int(time.time()) - 10,
           "expires_at": int(time.time()) + 3600,
           "inputs": [{"owner": org} for org in MEMBERS],
           "outputs": {"aggregates": list(ASKERS)},
           "parameters": {"server_a": "bank", "server_b": "telecom",
                          "purposes": "credit_check", "daily_quota": "100"}}
    terms = ServiceTerms.from_job(job)
    for server in service.servers:
        server.authorizer = LedgerAuthorizer(LedgerPolicy(server.name, terms))
    service.epoch()
    client = service.client("platform")
    for _ in range(3):  # every cache warm
        client.lookup("zoe", "credit_check", CONSENT)
    tls = Identity("", user_tls(service.net_dir, "platform", "node",
                                service.passphrase).cert_chain).fingerprint
    signing = client.identity.fingerprint
    for policy, code in (
            (LedgerPolicy("", terms, revoked=frozenset({("platform", tls)})),
             "revoked_certificate"),
            (LedgerPolicy("", terms, revoked=frozenset({("platform", signing)})),
             "revoked_certificate"),
            (LedgerPolicy("", terms, removed=frozenset({"platform"})), "removed_member")):
        for server in service.servers:
            server.authorizer.policy = policy
        with pytest.raises(QueryRefused) as refused:
            client.lookup("zoe", "credit_check", CONSENT)
        assert refused.value.code == code
    service.client("insurer").lookup("zoe", "credit_check", CONSENT)  # others still answered


def test_a_non_member_cannot_contribute(service: Service) -> None:
    member = Member(LoanBook(SALT, LAYOUT, "bank"))  # built as bank would; sent by another
    with pytest.raises(QueryRefused, match="not a member"):
        service.client("regulator").contribute(member.prepare(TODAY, 1))


def test_a_request_signed_for_one_server_is_refused_by_the_other(service: Service) -> None:
    service.epoch()
    client = service.client("insurer")
    client.servers = (client.servers[0], client.servers[0].__class__(
        "bank", client.servers[1].address, client.servers[1].root_certs))
    with pytest.raises(QueryRefused) as refused:
        client.lookup("zoe", "credit_check", CONSENT)
    assert refused.value.code == "wrong_server"


def test_a_server_restart_loses_no_update(service: Service) -> None:
    streams = {"telecom": [LoanEvent(EventKind.LOAN_OPENED, "ida", TODAY, "T9", 999)],
               "platform": [LoanEvent(EventKind.APPLICATION, "ida", TODAY)]}
    contribute_all(service, streams, TODAY, 1)
    service.stop()
    service.start()  # new processes' worth of state: only what is on disk
    service.epoch()
    got = service.client("insurer").lookup("ida", "credit_check", CONSENT)
    assert got.aggregates == Aggregates(1, 1, 999, 1, 1)


def test_a_server_down_is_a_clear_error_not_an_answer(service: Service) -> None:
    service.epoch()
    client = service.client("insurer")
    client.timeout = 3
    service.servers[1].stop(0)
    with pytest.raises(ServerUnavailable, match=r"telecom .* did not answer"):
        client.lookup("zoe", "credit_check", CONSENT)
    with pytest.raises(ServerUnavailable, match="telecom"):
        client.contribute(Member(LoanBook(SALT, LAYOUT, "insurer")).prepare(TODAY, 1))


def test_each_server_sees_the_same_kind_of_request_whatever_the_applicant(
        service: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    """Replace the applicant and compare what each server receives in both rounds: the same
    sizes, bodies of uniformly random-looking bytes for both applicants, and the same work
    (every key evaluated over its whole part, then the whole table scanned: nothing branches on
    the applicant)."""
    service.epoch()
    seen: dict[str, list[bytes]] = {"bank": [], "telecom": [], "bank/2": [], "telecom/2": []}
    parse_batch = lookup_body.parse_batch

    def record(bodies: list[bytes], *args: object) -> object:
        seen[str(args[-1])].extend(bodies)  # the server's name
        return parse_batch(bodies, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(lookup_body, "parse_batch", record)
    for server in service.servers:
        second = server._second_round

        def record_second(message: bytes, org: str, second=second,
                          name=server.name) -> object:
            seen[name + "/2"].append(decode(message)[1])  # halves and FSS keys
            return second(message, org)

        monkeypatch.setattr(server, "_second_round", record_second)
    work: list[tuple[int, ...]] = []
    original_answer = table.answer

    def answer(cols: np.ndarray, selections: np.ndarray) -> np.ndarray:
        work.append(cols.shape + selections.shape)
        return original_answer(cols, selections)

    monkeypatch.setattr(table, "answer", answer)
    client = service.client("platform")
    views, shapes = {}, {}
    for applicant in ("alice", "bob"):
        for name in seen:
            seen[name].clear()
        work.clear()
        for _ in range(40):
            client.lookup(applicant, "credit_check", CONSENT)
        views[applicant] = {name: list(bodies) for name, bodies in seen.items()}
        shapes[applicant] = sorted(work)
    assert shapes["alice"] == shapes["bob"] and len(shapes["alice"]) == 80
    for name in seen:
        a, b = views["alice"][name], views["bob"][name]
        assert {len(x) for x in a} == {len(x) for x in b} and len({len(x) for x in a}) == 1
        assert len(set(a)) == len(a)  # fresh keys and blindings every time
        for bodies in (a, b):
            bits = np.unpackbits(np.frombuffer(b"".join(bodies), np.uint8)).reshape(
                len(bodies), -1).mean(axis=0)
            varying = (bits > 0) & (bits < 1)
            assert abs(bits[varying].mean() - 0.5) < 0.02
        bits_a = np.unpackbits(np.frombuffer(b"".join(a), np.uint8)).reshape(len(a), -1)
        bits_b = np.unpackbits(np.frombuffer(b"".join(b), np.uint8)).reshape(len(b), -1)
        fixed_a = (bits_a.min(axis=0) == bits_a.max(axis=0))
        fixed_b = (bits_b.min(axis=0) == bits_b.max(axis=0))
        # the bits fixed by the format are the same ones, with the same values, for both
        assert np.array_equal(fixed_a, fixed_b)
        assert np.array_equal(bits_a[0][fixed_a], bits_b[0][fixed_b])
        assert fixed_a.mean() < 0.05  # headers, cleared control-bit positions, padding


def test_each_server_summarizes_its_period_with_counts_and_a_signed_root(
        service: Service) -> None:
    service.epoch()
    for org, times in (("insurer", 2), ("platform", 3)):
        for _ in range(times):
            service.client(org).lookup("zoe", "credit_check", CONSENT)
    for server in service.servers:
        summary = server.summary(0, 2**40)
        assert dict(summary.counts) == {"insurer": 2, "platform": 3}
        assert summary.entries == 5 and summary.signature
        assert summary.merkle_root.startswith("sha256:")
        assert "zoe" not in repr(summary.body())
    service.client("insurer").lookup("zoe", "credit_check", CONSENT)
    assert service.servers[0].summary(0, 2**40).merkle_root != summary.merkle_root


def test_status_tells_the_asker_its_own_lookups_today_on_each_server(
        service: Service) -> None:
    service.epoch()
    for _ in range(3):
        service.client("platform").lookup("zoe", "credit_check", CONSENT)
    service.client("insurer").lookup("zoe", "credit_check", CONSENT)
    statuses = service.client("platform").status()
    assert [(s["used_today"]["org"], s["used_today"]["lookups"]) for s in statuses] == [
        ("platform", 3)] * 2


def test_status_discloses_no_other_members_lookups(service: Service) -> None:
    service.epoch()
    for _ in range(2):
        service.client("platform").lookup("zoe", "credit_check", CONSENT)
    statuses = service.client("telecom").status()
    assert [s["used_today"]["lookups"] for s in statuses] == [0, 0]
    assert "platform" not in repr(statuses)


def test_concurrent_lookups_from_many_threads_are_all_right(service: Service) -> None:
    """Lookups in flight together (batched by the servers, AES contexts per thread) each get
    their own applicant's answer."""
    from concurrent.futures import ThreadPoolExecutor

    amounts = {f"c{i}": 1000 + i for i in range(24)}
    streams = {"telecom": [LoanEvent(EventKind.LOAN_OPENED, a, TODAY, f"T{a}", v)
                           for a, v in amounts.items()]}
    contribute_all(service, streams, TODAY, 1)
    service.epoch()
    client = service.client("insurer")
    with ThreadPoolExecutor(8) as pool:
        got = dict(zip(amounts, pool.map(
            lambda a: client.lookup(a, "credit_check", CONSENT).aggregates.outstanding_cents,
            amounts), strict=True))
    assert got == amounts


def test_a_stale_request_is_refused(service: Service) -> None:
    service.epoch()
    for server in service.servers:
        server.clock = lambda: time.time() + 3600
    with pytest.raises(QueryRefused, match="more than 300 s") as refused:
        service.client("insurer").lookup("zoe", "credit_check", CONSENT)
    assert refused.value.code == "stale_request"


@pytest.mark.parametrize("service", [LAYOUT, BLOCKS], indirect=True,
                         ids=["power-of-two", "blocks"])
def test_a_segment_filled_to_its_capacity_answers_every_applicant_exactly(
        service: Service) -> None:
    """The layout's planned load: telecom places as many applicants as its segment is sized
    for (0.8 per slot), and every one of them is found with its own record."""
    count = service.layout.capacity
    amounts = {f"full-{i}": 1 + i for i in range(count)}
    streams = {"telecom": [LoanEvent(EventKind.LOAN_OPENED, a, TODAY, f"T{a}", v)
                           for a, v in amounts.items()]}
    contribute_all(service, streams, TODAY, 1)
    service.epoch()
    client = service.client("insurer")
    for applicant in random.Random(5).sample(sorted(amounts), 60):
        got = client.lookup(applicant, "credit_check", CONSENT).aggregates
        assert got == Aggregates(1, 1, amounts[applicant], 0, 0), applicant


def test_a_contribution_built_for_another_layout_is_refused(service: Service) -> None:
    other = Layout.of(LAYOUT.part_bits + 1, MEMBERS)
    member = Member(LoanBook(SALT, other, "bank"))
    client = make_client(service.net_dir, "bank", (
        ("bank", f"127.0.0.1:{service.servers[0].port}"),
        ("telecom", f"127.0.0.1:{service.servers[1].port}")), SALT, other, service.passphrase)
    with client, pytest.raises(QueryRefused) as refused:
        client.contribute(member.prepare(TODAY, 1))
    assert refused.value.code == "wrong_layout"


def test_servers_switching_layout_drop_the_old_contributions_and_answer_on_the_new(
        service: Service) -> None:
    """The job in force changed its contributors: each server adopts the new layout (no
    restart), the old layout's contributions are gone, members push again and are answered."""
    streams = {"telecom": [LoanEvent(EventKind.LOAN_OPENED, "ida", TODAY, "T9", 999)]}
    contribute_all(service, streams, TODAY, 1)
    service.epoch()
    new = Layout.of(LAYOUT.part_bits, (*MEMBERS, "lender"))
    for server in service.servers:
        server.adopt(new)
        assert server.epochs() == [] and server.store.versions() == {}
    service.layout = new
    for client in service.clients.values():
        client.close()
    service.clients = {}
    contribute_all(service, streams, TODAY, 2)
    service.epoch()
    got = service.client("insurer").lookup("ida", "credit_check", CONSENT)
    assert got.aggregates == Aggregates(1, 1, 999, 0, 0)


def test_no_new_epoch_forms_while_nothing_changed(service: Service) -> None:
    streams = {"telecom": [LoanEvent(EventKind.LOAN_OPENED, "ida", TODAY, "T9", 999)]}
    members = contribute_all(service, streams, TODAY, 1)
    first = service.servers[0].form_epoch()
    assert service.servers[0].form_epoch() == first  # the same contributions: the same table
    contribute_all(service, streams, TODAY, 2, members)
    assert service.servers[0].form_epoch() > first


def test_an_epoch_with_the_peer_down_fails_naming_the_peer_and_the_epoch_kept(
    service: Service,
) -> None:
    streams = {"telecom": [LoanEvent(EventKind.LOAN_OPENED, "ida", TODAY, "T9", 999)]}
    members = contribute_all(service, streams, TODAY, 1)
    first = service.servers[0].form_epoch()
    contribute_all(service, streams, TODAY, 2, members)
    service.servers[1].stop(0)
    with pytest.raises(ServerUnavailable) as info:
        service.servers[0].form_epoch(timeout=5)
    message = str(info.value)
    assert "telecom's query server" in message and "UNAVAILABLE" in message
    assert f"lookups go on with epoch {first}" in message
    assert "Rendezvous" not in message  # gRPC's own object, not a sentence


def test_a_peer_that_lost_its_epochs_gets_a_new_one(service: Service) -> None:
    streams = {"telecom": [LoanEvent(EventKind.LOAN_OPENED, "ida", TODAY, "T9", 999)]}
    contribute_all(service, streams, TODAY, 1)
    first = service.servers[0].form_epoch()
    service.servers[1].tables._epochs.clear()  # as after B's restart
    assert service.servers[0].form_epoch() > first
    assert service.client("insurer").lookup("ida", "credit_check", CONSENT).aggregates == \
        Aggregates(1, 1, 999, 0, 0)


def _ask(applicant: str, purpose: str = "credit_check") -> _Ask:
    return _Ask(hash_applicant(SALT, applicant), purpose, (CONSENT, CONSENT))


def _count_calls(server: QueryServer, name: str, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The number of lookups each `name` call (a batch) carried, as the server read them."""
    calls: list[int] = []
    original = getattr(server, name)

    def counted(message: bytes, context: object) -> bytes:
        calls.append(len(unpack(message)))
        return original(message, context)

    monkeypatch.setattr(server, name, counted)
    return calls


def test_lookups_in_one_call_are_refused_each_on_its_own(
        service: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    service.epoch()
    calls = _count_calls(service.servers[0], "_answer_many", monkeypatch)
    client = service.client("platform")
    good, bad = client._first_rounds([_ask("zoe"), _ask("zoe", "advertising")])
    assert calls == [2]
    assert isinstance(bad, QueryRefused) and bad.code == "bad_purpose"
    assert isinstance(good, FirstRound)
    assert client.second_round(good, good.answered) == Aggregates()
    assert service.servers[0].store.used("platform", int(time.time() // 86400)) == 1


@pytest.mark.parametrize(("byte", "value", "error"), [
    (0, 9, "version is not"), (2, 1, "for the other server")])
def test_a_malformed_dpf_key_in_a_batch_of_first_rounds_refuses_that_lookup_alone(
        service: Service, monkeypatch: pytest.MonkeyPatch, byte: int, value: int,
        error: str) -> None:
    """The server parses a batch's DPF keys in one go: one lookup's bad key (an unknown
    version, a key for the other server) refuses it alone, with its own reason."""
    contribute_all(service, {"telecom": [LoanEvent(EventKind.LOAN_OPENED, "s0", TODAY, "T", 7)]},
                   TODAY, 1)
    service.epoch()
    calls = _count_calls(service.servers[0], "_answer_many", monkeypatch)
    original = dpf.generate_packed

    def second_lookup_key_altered(*args: object) -> tuple[bytes, bytes]:
        a, b = original(*args)  # type: ignore[arg-type]
        at = len(a) // 3 + byte  # the second lookup's first key for server A starts there
        return a[:at] + bytes([value]) + a[at + 1:], b

    monkeypatch.setattr(dpf, "generate_packed", second_lookup_key_altered)
    client = service.client("insurer")
    got = client._first_rounds([_ask("s0"), _ask("s1"), _ask("s2")])
    assert calls == [3]
    assert isinstance(got[1], ProtocolError) and error in str(got[1])
    assert isinstance(got[0], FirstRound) and isinstance(got[2], FirstRound)
    assert client.second_round(got[0], got[0].answered).outstanding_cents == 7


def test_a_batch_over_the_daily_quota_is_answered_up_to_it(service: Service) -> None:
    service.stop()
    service.quota = 2
    service.start()
    service.epoch()
    got = service.client("platform")._first_rounds([_ask(f"a{i}") for i in range(3)])
    assert [type(g).__name__ for g in got] == ["FirstRound", "FirstRound", "QueryRefused"]
    assert got[2].code == "over_quota"  # type: ignore[union-attr]


def test_second_rounds_in_one_call_each_get_their_own_applicant(
        service: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    amounts = {f"s{i}": 500 + i for i in range(5)}
    contribute_all(service, {"telecom": [LoanEvent(EventKind.LOAN_OPENED, a, TODAY, f"T{a}", v)
                                         for a, v in amounts.items()]}, TODAY, 1)
    service.epoch()
    calls = _count_calls(service.servers[1], "_select_many", monkeypatch)
    client = service.client("insurer")
    firsts = client._first_rounds([_ask(a) for a in amounts])
    got = client._second_rounds([(f, f.answered) for f in firsts])  # type: ignore[union-attr]
    assert calls == [5]
    assert [g.outstanding_cents for g in got] == list(amounts.values())  # type: ignore[union-attr]


def test_a_malformed_key_in_a_batch_of_second_rounds_refuses_that_lookup_alone(
        service: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    contribute_all(service, {"telecom": [LoanEvent(EventKind.LOAN_OPENED, "s0", TODAY, "T", 7)]},
                   TODAY, 1)
    service.epoch()
    client = service.client("insurer")
    firsts = client._first_rounds([_ask("s0"), _ask("s1")])
    original = matching.keys_of

    def second_key_of_a_unknown_version(*args: object) -> tuple[bytes, bytes]:
        a, b = original(*args)  # type: ignore[arg-type]
        half = len(a) // 2  # the second lookup's keys start here
        return a[:half] + b"\x09" + a[half + 1:], b

    monkeypatch.setattr(matching, "keys_of", second_key_of_a_unknown_version)
    got = client._second_rounds([(f, f.answered) for f in firsts])  # type: ignore[union-attr]
    assert isinstance(got[0], Aggregates) and got[0].outstanding_cents == 7
    assert isinstance(got[1], ProtocolError) and "FSS key version 9 is unknown" in str(got[1])


def test_a_server_on_a_port_another_server_holds_is_refused_and_keeps_nothing_open(
        service: Service) -> None:
    """gRPC binds with SO_REUSEPORT by default: a second server on the same port would
    silently share the first one's connections."""
    taken = service.servers[1].port
    second = make_server(service.net_dir, "telecom", "b", "bank", "", service.layout,
                         service.folder / "second", service.policy(), service.passphrase,
                         port=taken)
    with pytest.raises(QueryError, match=f"cannot listen on 127.0.0.1:{taken}"):
        second.start()
    assert second.store._closing.is_set()  # its SQLite files and checkpointer closed
    client = service.client("platform")
    client.contribute(Contribution(1, np.zeros((service.layout.segment_slots, LANES),
                                               dtype=np.uint64), b"\x00" * 16))
    assert service.servers[1].store.versions()  # the first server still answers


def _logged(service: Service, asker: str) -> dict:
    """Server A's log entry of a fresh lookup by `asker`."""
    service.epoch()
    return dict(service.client(asker).lookup("alice", "credit_check", CONSENT).logged[0])


def test_a_member_gets_the_proof_of_its_own_logged_lookup(service: Service) -> None:
    entry = _logged(service, "platform")
    index, steps = service.client("platform").proof(0, entry["at"], entry["at"] + 60,
                                                    entry["seq"])
    assert index == 0 and steps == []  # the only entry of that minute


def test_a_proof_of_another_members_lookup_is_refused(service: Service) -> None:
    entry = _logged(service, "platform")
    with pytest.raises(QueryRefused) as refused:
        service.client("insurer").proof(0, entry["at"], entry["at"] + 60, entry["seq"])
    assert refused.value.code == "not_asker"


def test_a_proof_over_more_than_a_metering_period_is_refused_before_the_log_is_read(
        service: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    entry = _logged(service, "platform")
    read: list[tuple] = []
    store = service.servers[0].store
    log_entries = store.log_entries
    monkeypatch.setattr(store, "log_entries", lambda *a: read.append(a) or log_entries(*a))
    with pytest.raises(ProtocolError, match="a proof covers one metering period"):
        service.client("platform").proof(0, 0, 2 ** 62, entry["seq"])
    assert read == []
    with pytest.raises(QueryRefused) as refused:  # a range that does not hold the entry
        service.client("platform").proof(0, entry["at"] + 1, entry["at"] + 60, entry["seq"])
    assert refused.value.code == "no_entry" and read == []
