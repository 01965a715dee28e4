"""The multi-lender query screen's place in the app (key, palette, help) and what it writes
(service terms, server cells, refusals), without a ledger; the screen against real servers is
in tests/integration/test_tui_query.py, its snapshots in test_tui_query_snapshots.py."""

from __future__ import annotations

from textual.pilot import Pilot
from tui_seed import NOW, SeededSession

from alliance.app.errors import FileMissing, Refused, Unreachable
from alliance.app.query import ServerState, ServiceState, fed_summary
from alliance.protocols.multilender import ServiceTerms
from tui.app import AllianceApp
from tui.commands import AllianceCommands
from tui.screens.help import HelpScreen
from tui.screens.query import (
    enforces_cell,
    epoch_cell,
    failure_view,
    service_text,
)

TERMS = ServiceTerms(
    job_id="job-00000000000000aa", servers=("bank", "telecom"),
    members=frozenset({"bank", "telecom"}), contributors=frozenset({"bank", "telecom"}),
    purposes=frozenset({"limit_review", "credit_check"}), daily_quota=100,
    quotas={"telecom": 5}, fields=("active_loans", "applications_7d"), period_seconds=3600,
    table_bits=16, expires_at=NOW + 86400)


async def settled(pilot: Pilot) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def test_the_palette_and_help_name_the_query_screen_and_its_key() -> None:
    app = AllianceApp(SeededSession("bank"), watch_events=False)
    async with app.run_test(size=(100, 40)) as pilot:
        await settled(pilot)
        provider = AllianceCommands(app.screen)
        titles = {str(hit.display) for hit in [h async for h in provider.discover()]}
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        keys = {(k, a.binding.description) for k, a in app.screen.bindings.items()}
    assert "Go to Multi-lender query" in titles
    assert ("7", "Multi-lender query") in keys


def plain(text: object) -> str:
    return str(getattr(text, "plain", text))


def test_the_service_says_the_terms_and_this_members_quota_and_use_today() -> None:
    state = ServiceState(TERMS, "", (), "telecom", 2)
    shown = plain(service_text(state))
    assert "job-00000000000000aa · servers bank (A), telecom (B)" in shown
    assert "purposes credit_check, limit_review" in shown
    assert "answers only active_loans, applications_7d" in shown
    assert "telecom may ask: 2 of 5 lookups today" in shown


def test_an_org_outside_the_service_is_told_it_may_not_ask() -> None:
    shown = plain(service_text(ServiceState(TERMS, "", (), "platform", 0)))
    assert "platform may not ask (the job's members: bank, telecom)" in shown
    assert "contributes no events" in shown


def test_without_a_service_job_the_screen_says_how_to_get_one() -> None:
    missing = "no multilender service job is approved on the ledger: request it with ..."
    shown = plain(service_text(ServiceState(None, missing, (), "bank", 0)))
    assert shown.startswith(missing)
    assert "`alliance member propose --query-servers A,B --reason TEXT`" in shown


def test_server_cells_say_what_is_known_of_each_server() -> None:
    down = ServerState("telecom", "B", False, None)
    unasked = ServerState("bank", "A", True, "127.0.0.1:1", problem="not asked")
    fresh = ServerState("bank", "A", True, "127.0.0.1:1", epoch=None, enforces=None)
    serving = ServerState("bank", "A", True, "127.0.0.1:1", epoch=(NOW * 1000),
                          enforces=TERMS.job_id)
    other = ServerState("bank", "A", True, "127.0.0.1:1", epoch=1, enforces="job-old")
    assert (epoch_cell(down), enforces_cell(down, TERMS.job_id)) == ("—", "—")
    assert (epoch_cell(unasked), enforces_cell(unasked, TERMS.job_id)) == ("?", "?")
    assert epoch_cell(fresh) == "none yet"
    assert enforces_cell(serving, TERMS.job_id) == "this job"
    assert enforces_cell(other, TERMS.job_id) == "job-old"


def test_refusals_and_unreachable_servers_are_headed_by_what_happened() -> None:
    refused = plain(failure_view(Refused("the query was refused (bad_purpose): no",
                                         error_type="bad_purpose")))
    down = plain(failure_view(Unreachable("query server telecom did not answer",
                                          hint="see `alliance network status`")))
    missing = plain(failure_view(FileMissing("c.pdf: no such consent document")))
    assert refused.startswith("THE LOOKUP WAS REFUSED\n") and "bad_purpose" in refused
    assert down.startswith("NO ANSWER") and "telecom" in down and "network status" in down
    assert missing.startswith("THE LOOKUP WAS NOT MADE\n") and "c.pdf" in missing


def test_the_feed_outcome_reads_as_the_cli_says_it() -> None:
    report = {"events": 3, "applicants": 2, "version": 7, "servers": ["bank", "telecom"]}
    assert fed_summary(report) == (
        "3 event(s) added; contribution version 7 (2 applicant(s)) sent to bank, telecom; "
        "lookups see it from the next table epoch")
