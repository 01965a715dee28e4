"""Snapshots of the multi-lender query screen at 80x24 and 120x40 on tui_ledger's seeded ledger
with the service added (the same pinned identities, clock and transactions): the charter names
bank and telecom the query servers by vote, the three members register their loan books and
approve a `multilender` job that platform may ask under (the servers' members may not), and
platform keeps the record of one lookup. No query server runs on
this machine, so the screen shows both not running (what a member sees before `network up`).
The screen without any service job is snapshotted with the others (test_tui_snapshots)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest
import tui_ledger
from test_tui_snapshots import going
from tui_ledger import DAY, NOW, PASSPHRASE, Seeder, digest, seeded_alliance

from tui import format as tui_format
from tui.app import AllianceApp
from tui.backend import Session

pytestmark = pytest.mark.slow

SIZES = [(80, 24), (120, 40)]
NET = Path("net")


def seed_service(s: Seeder) -> dict[str, str]:
    """The query service, after tui_ledger's history; the job's id."""
    proposal = s.submit(NOW - 500, "bank", "ProposeMember", {
        "action": "set_query_servers", "org": "bank", "servers": ["bank", "telecom"],
        "reason": "bank and telecom run the query servers"})
    s.submit(NOW - 490, "telecom", "VoteProposal", proposal["id"], "yes")
    for n, org in enumerate(("bank", "platform", "telecom")):
        s.submit(NOW - 480, org, "RegisterDataset", {
            "name": "loans", "schema": [{"name": "applicant_id", "type": "string"}],
            "row_count": 1000 + n, "fingerprint": digest(20 + n),
            "description": "loan book, seeded for the TUI snapshots", "tags": []})
    job = s.submit(NOW - 400, "bank", "RequestJob", {
        "protocol": "multilender",
        "inputs": [f"{org}/loans:applicant_id" for org in ("bank", "platform", "telecom")],
        "parameters": {"server_a": "bank", "server_b": "telecom",
                       "purposes": "credit_check,limit_review", "daily_quota": "10000",
                       "quotas": "platform=50"},
        "outputs": {"aggregates": ["platform"]},
        "expires_in_seconds": 365 * DAY, "max_runs": 1})
    for org in ("platform", "telecom"):
        s.submit(NOW - 390, org, "ApproveJob", job["id"])
    keep_lookup(s.net_dir, job["id"])
    return {"service": job["id"]}


def keep_lookup(net_dir: Path, job_id: str) -> None:
    """Platform's kept record of a lookup (as `alliance query lender` writes it)."""
    from alliance.app.query import member_store
    from node.query.consent import LookupRecord, ServerPart

    parts = [ServerPart(server, f"{n:02x}" * 32, digest(30 + n), 1, NOW - 300, digest(40 + n))
             for n, server in enumerate(("bank", "telecom"))]
    member_store(net_dir, "platform").add_record(
        LookupRecord(job_id, "platform", "credit_check", digest(50), parts))


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """tui_ledger's seeded alliance with the query service, in a working directory of its
    own."""
    home = tmp_path_factory.mktemp("tui-query-snapshots")
    history = tui_ledger.seed

    def seed(s: Seeder) -> dict[str, Any]:
        return {**history(s), **seed_service(s)}

    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(home)
        mp.setattr(tui_ledger, "seed", seed)
        with seeded_alliance(home / NET) as ids:
            yield ids


@pytest.fixture(autouse=True)
def pinned_clock(ledger: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("NO_COLOR", raising=False)
    tui_format.set_clock(lambda: NOW, UTC)
    yield
    tui_format.set_clock(time.time)


def app_of(org: str) -> AllianceApp:
    return AllianceApp(Session(NET, org, "admin", PASSPHRASE), watch_events=False)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("org", ["platform", "bank", "regulator"])
def test_query_screen(snap_compare, org: str, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(app_of(org), terminal_size=size,
                        run_before=going(lambda app: app.switch_mode("query")))


async def test_the_seeded_screen_shows_the_service_and_the_kept_lookup(
    ledger: dict[str, str],
) -> None:
    """What the snapshots show, said in words (a snapshot updated by mistake fails here)."""
    from test_tui import text_of
    from test_tui_snapshots import settle

    from tui.widgets.filter_table import FilterTable

    app = app_of("platform")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        app.switch_mode("query")
        await settle(pilot)
        service = text_of(app, "#service")
        records = app.screen.query_one("#records", FilterTable).keys
    assert ledger["service"] in service and "servers bank (A), telecom (B)" in service
    assert ("platform may ask: 50 lookups a day (UTC, each server); used today: not known, the "
            "servers could not be asked (this node kept 1)") in service
    assert records == ["lk-" + digest(40).removeprefix("sha256:")[:16]]
