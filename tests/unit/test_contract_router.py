"""The router's response format and the MemoryStub's Fabric-like behaviour."""

from __future__ import annotations

import pytest
from contract_helpers import Alliance, dataset_spec, founded, org_identities

from chaincode import MemoryStub, Router, default_router
from chaincode.context import Context
from chaincode.contracts import QUERIES, TRANSACTIONS
from chaincode.errors import Conflict
from chaincode.stub import create_composite_key

ADMIN = org_identities("bank").admin


def test_success_is_200_with_canonical_json() -> None:
    a = founded()
    response = a.call("GetDataset", "bank/customers")
    assert (response.status, response.message) == (200, "")
    assert response.payload.startswith(b'{"description":')
    assert b" " not in response.payload.split(b'"description":"the customers table"')[1]


def test_contract_error_becomes_status_and_named_message() -> None:
    response = founded().call("GetJob", "job-nope")
    assert response.status == 404
    assert response.message.startswith("NotFound: no job 'job-nope'")
    assert response.payload == b""


@pytest.mark.parametrize(
    ("function", "args", "status"),
    [("GetJob", ("job-x",), 404), ("RegisterDataset", ("{}",), 400),
     ("ClaimJob", ("job-x",), 404)],
)
def test_status_codes(function: str, args: tuple[str, ...], status: int) -> None:
    assert founded().call(function, *args).status == status


def test_unknown_function_is_refused_without_listing_functions() -> None:
    response = founded().call("DropTables")
    assert response.status == 400
    assert response.message.startswith("UnknownFunction: this contract has no transaction "
                                       "function 'DropTables'")
    assert "RequestJob" not in response.message


def test_wrong_argument_count_is_invalid_argument() -> None:
    response = founded().call("ApproveJob", "job-1", "extra")
    assert response.message == "InvalidArgument: ApproveJob takes 1 argument(s), got 2"


def test_unexpected_exception_is_internal_error_500() -> None:
    router = Router()

    def broken(ctx: Context) -> None:
        raise ValueError("boom")

    router.register("Broken", broken)
    response = MemoryStub().invoke(router, "Broken", creator=ADMIN)
    assert response.status == 500
    assert response.message == "InternalError: Broken failed unexpectedly: ValueError: boom"


def test_refused_transaction_writes_nothing_and_emits_nothing() -> None:
    router = Router()

    def half_done(ctx: Context) -> None:
        ctx.put_bytes("k", b"v")
        ctx.emit("Something", {"state": "x"})
        raise Conflict("changed my mind")

    router.register("HalfDone", half_done)
    stub = MemoryStub()
    response = stub.invoke(router, "HalfDone", creator=ADMIN)
    assert response.status == 409
    assert stub.state == {}
    assert stub.events == []


def test_two_events_in_one_transaction_is_a_bug() -> None:
    router = Router()

    def chatty(ctx: Context) -> None:
        ctx.emit("One", {})
        ctx.emit("Two", {})

    router.register("Chatty", chatty)
    assert MemoryStub().invoke(router, "Chatty", creator=ADMIN).status == 500


def test_is_query_marks_read_only_functions() -> None:
    router = default_router()
    for name in QUERIES:
        assert router.is_query(name), name
        assert name.startswith(("Get", "List")) or name.endswith("History")
    for name in TRANSACTIONS:
        assert not router.is_query(name), name
    assert not router.is_query("NoSuchThing")


def test_queries_never_write() -> None:
    a = founded()
    job = a.approved_job()
    before = dict(a.stub.state)
    for name, args in [("GetCharter", ()), ("ListMembers", ()), ("ListProposals", ()),
                       ("ListRevokedCertificates", ()), ("GetDataset", ("bank/customers",)),
                       ("ListDatasets", ()), ("DatasetHistory", ("bank/customers",)),
                       ("GetJob", (job["id"],)), ("ListJobs", ()), ("JobHistory", (job["id"],))]:
        assert a.call(name, *args, by="regulator").ok, name
    assert a.stub.state == before


def test_query_on_memory_stub_commits_nothing() -> None:
    a = founded()
    response = a.stub.query(a.router, "RegisterDataset", dataset_spec("loans"), creator=ADMIN)
    assert response.ok
    a.refused("GetDataset", "bank/loans", error="NotFound")


def test_memory_stub_reads_see_committed_state_only() -> None:
    router = Router()
    seen: list[bytes | None] = []

    def write_then_read(ctx: Context) -> None:
        ctx.put_bytes("k", b"v")
        seen.append(ctx.stub.get_state("k"))
        seen.append(ctx.get_bytes("k"))

    router.register("WriteThenRead", write_then_read)
    stub = MemoryStub()
    stub.invoke(router, "WriteThenRead", creator=ADMIN)
    assert seen == [None, b"v"]  # the stub follows Fabric; the context overlays its own writes
    assert stub.state == {"k": b"v"}


def test_memory_stub_range_scan_is_sorted_and_half_open() -> None:
    router = Router()
    found: list[str] = []

    def put(ctx: Context) -> None:
        for key in ("b", "a", "c", "ab"):
            ctx.put_bytes(key, b"1")

    def scan(ctx: Context) -> None:
        found.extend(k for k, _ in ctx.stub.get_state_by_range("a", "c"))

    router.register("Put", put)
    router.register("Scan", scan)
    stub = MemoryStub()
    stub.invoke(router, "Put", creator=ADMIN)
    stub.invoke(router, "Scan", creator=ADMIN)
    assert found == ["a", "ab", "b"]


def test_memory_stub_history_newest_first_with_deletes() -> None:
    router = Router()
    history: list[dict] = []

    def put(ctx: Context, value: str) -> None:
        ctx.put_bytes("k", value.encode())

    def delete(ctx: Context) -> None:
        ctx.delete("k")

    def read(ctx: Context) -> None:
        history.extend(ctx.stub.get_history_for_key("k"))

    for name, fn in [("Put", put), ("Delete", delete), ("Read", read)]:
        router.register(name, fn)
    stub = MemoryStub(start_time=100)
    stub.invoke(router, "Put", "1", creator=ADMIN, tx_id="t1")
    stub.invoke(router, "Put", "2", creator=ADMIN, tx_id="t2")
    stub.invoke(router, "Delete", creator=ADMIN, tx_id="t3")
    stub.invoke(router, "Read", creator=ADMIN)
    assert [(h["tx_id"], h["value"], h["is_delete"]) for h in history] == [
        ("t3", b"", True), ("t2", b"2", False), ("t1", b"1", False)
    ]
    assert [h["timestamp"] for h in history] == [102, 101, 100]


def test_memory_stub_keeps_last_event_of_a_transaction() -> None:
    router = Router()

    def raw_events(ctx: Context) -> None:
        ctx.stub.set_event("First", b"1")
        ctx.stub.set_event("Second", b"2")

    router.register("RawEvents", raw_events)
    stub = MemoryStub()
    stub.invoke(router, "RawEvents", creator=ADMIN)
    assert [(e.name, e.payload) for e in stub.events] == [("Second", b"2")]


def test_tx_time_comes_from_the_transaction() -> None:
    a = founded()
    dataset = a.ok("RegisterDataset", dataset_spec("loans"), by="bank", timestamp=1_800_000_000)
    assert dataset["registered_at"] == 1_800_000_000


def test_composite_keys_are_what_the_contract_writes() -> None:
    a: Alliance = founded()
    assert create_composite_key("dataset", ["bank", "customers"]) in a.stub.state
    assert create_composite_key("dataset~tag", ["web", "platform", "users"]) in a.stub.state
