"""The multi-lender query screen's place in the app (key, palette, help), what it writes
(service terms, quota use, server cells, refusals), its forms without a service job and its
periodic reading of the servers' state, without a ledger (a session answering a set state); the
screen against real servers is in tests/integration/test_tui_query.py, its snapshots in
test_tui_query_snapshots.py."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from textual.pilot import Pilot
from textual.widgets import Input, OptionList, Select, Static
from tui_seed import NOW, SeededSession

from alliance.app.errors import FileMissing, Refused, Unreachable
from alliance.app.query import LookupAnswer, ServerState, ServiceState, fed_summary, own_count
from alliance.protocols.multilender import ServiceTerms
from tui.app import AllianceApp
from tui.commands import AllianceCommands
from tui.screens.help import HelpScreen
from tui.screens.query import (
    SERVICE_ACTIONS,
    QueryScreen,
    enforces_cell,
    epoch_cell,
    failure_view,
    no_service_note,
    service_text,
)

TERMS = ServiceTerms(
    job_id="job-00000000000000aa", servers=("bank", "telecom"),
    members=frozenset({"insurer", "platform"}),
    contributors=frozenset({"bank", "telecom", "insurer", "platform"}),
    purposes=frozenset({"limit_review", "credit_check"}), daily_quota=100,
    quotas={"platform": 5}, fields=("active_loans", "applications_7d"), period_seconds=3600,
    part_bits=14, expires_at=NOW + 86400)


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


def counting(*counts: int | None) -> tuple[ServerState, ...]:
    """Both servers running, each with its count of the asker's lookups today."""
    return tuple(ServerState(org, role, True, "127.0.0.1:1", epoch=1, enforces=TERMS.job_id,
                             used_today=n)
                 for org, role, n in zip(("bank", "telecom"), "AB", counts, strict=True))


def test_the_service_says_the_terms_and_this_members_quota_and_use_today() -> None:
    state = ServiceState(TERMS, "", counting(3, 3), "platform", 1)
    shown = plain(service_text(state))
    assert "job-00000000000000aa · servers bank (A), telecom (B)" in shown
    assert "purposes credit_check, limit_review" in shown
    assert "answers only active_loans, applications_7d" in shown
    assert "platform may ask: 3 of 5 lookups today (UTC), as both servers count them" in shown


@pytest.mark.parametrize(("status", "count"), [
    ({"used_today": {"org": "platform", "day": 1, "lookups": 3}}, 3),
    ({"used_today": {"org": "bank", "day": 1, "lookups": 3}}, None),
    ({"epochs": []}, None),  # a server that does not tell
])
def test_a_servers_count_is_taken_only_as_this_orgs_own(status: dict[str, Any],
                                                         count: int | None) -> None:
    assert own_count(status, "platform") == count


def test_servers_counting_differently_are_each_named_with_their_count() -> None:
    shown = plain(service_text(ServiceState(TERMS, "", counting(3, 2), "platform", 1)))
    assert "platform may ask: 5 lookups a day (UTC, each server); used today: 3 by bank's " \
        "count, 2 by telecom's count" in shown


def test_servers_not_asked_leave_todays_use_unknown_beside_this_nodes_lookups() -> None:
    shown = plain(service_text(ServiceState(TERMS, "", counting(None, None), "platform", 1)))
    assert "used today: not known, the servers could not be asked (this node kept 1)" in shown


def test_an_org_outside_the_service_is_told_it_may_not_ask() -> None:
    shown = plain(service_text(ServiceState(TERMS, "", counting(0, 0), "lender", 0)))
    assert "lender may not ask (the job's members: insurer, platform)" in shown
    assert "contributes no events" in shown


def test_a_servers_member_is_told_why_it_may_not_ask() -> None:
    shown = plain(service_text(ServiceState(TERMS, "", counting(0, 0), "telecom", 0)))
    assert "telecom runs query server B and may not ask (a server holds the masked table" in shown
    assert "contributes its loan events" in shown


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
        "lookups see it from the servers' next table (every 30 s by default; `--wait` "
        "waits for it)")


def test_a_feed_waited_for_says_from_which_table_lookups_count_it() -> None:
    report = {"events": 1, "applicants": 1, "version": 2, "servers": ["bank", "telecom"],
              "visible_in_epoch": 1796260570262, "visible_after_s": 20.4}
    assert fed_summary(report).endswith("lookups count it from table 1796260570262 (after 20.4 s)")


# ---- without a service job, and the servers asked again while the screen is shown ------------

CHARTERED = (ServerState("bank", "", True, "127.0.0.1:1"),
             ServerState("telecom", "", True, "127.0.0.1:2"))
NO_JOB = ServiceState(None, "no multilender service job is approved on the ledger", CHARTERED,
                      "bank", 0)
SERVING = ServiceState(TERMS, "", counting(0, 0), "platform", 0)


def test_without_a_job_the_note_names_the_request_with_the_charters_servers() -> None:
    note = no_service_note(NO_JOB)
    assert note.startswith("There is no approved multilender service job")
    assert ("`alliance job request --protocol multilender --param server_a=bank --param "
            "server_b=telecom ...`") in note
    assert "`alliance job approve JOB`" in note


def test_without_query_servers_the_note_names_the_charter_proposal_first() -> None:
    note = no_service_note(replace(NO_JOB, servers=()))
    assert "`alliance member propose --query-servers A,B --reason TEXT`" in note


class QuerySession(SeededSession):
    """Answers the query screen's reads with `state`; counts the reads of the service's state
    and, while `gate` is clear, holds each one until it is set."""

    def __init__(self, state: ServiceState) -> None:
        super().__init__(state.org)
        self.state = state
        self.asked = 0
        self.looked_up = 0
        self.gate = threading.Event()
        self.gate.set()

    def query_service(self, now: float) -> ServiceState:
        self.asked += 1
        self.gate.wait(30)
        return self.state

    def query_records(self) -> list[dict[str, Any]]:
        return []

    def query_summaries(self) -> list[dict[str, Any]]:
        return []

    missing: tuple[str, ...] = ()

    def lookup(self, applicant_id: str, purpose: str, consent_file: Path) -> LookupAnswer:
        self.looked_up += 1
        return LookupAnswer(applicant_id, purpose, {"active_loans": 1}, 1, "lk-0123456789abcdef",
                            self.missing)


async def opened(pilot: Pilot) -> QueryScreen:
    pilot.app.switch_mode("query")
    await settled(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, QueryScreen)
    return screen


def shown_in(screen: QueryScreen, selector: str) -> str:
    """What a Static shows, as plain text on one line per paragraph (wide)."""
    console = Console(width=400, color_system=None)
    with console.capture() as captured:
        console.print(screen.query_one(selector, Static).content)
    return captured.get().rstrip("\n")


def enabled(screen: QueryScreen) -> set[str]:
    return {b.binding.action for b in screen.active_bindings.values() if b.enabled}


async def look_up_a1(screen: QueryScreen, pilot: Pilot) -> None:
    """Fill the lookup form (applicant A1) and ask, as `l` then enter would."""
    screen.query_one("#applicant", Input).value = "A1"
    screen.query_one("#purpose", Select).value = "credit_check"
    screen.query_one("#consent", Input).value = "consent.pdf"
    screen.action_lookup()
    await settled(pilot)


async def test_without_a_job_the_forms_give_way_to_the_note_and_their_keys_are_gone() -> None:
    app = AllianceApp(QuerySession(NO_JOB), watch_events=False)
    async with app.run_test(size=(100, 40)) as pilot:
        screen = await opened(pilot)
        shown = {box: screen.query_one(box).display
                 for box in ("#lookup-box", "#feed-box", "#no-service-note")}
        note = shown_in(screen, "#no-service-note")
        service = shown_in(screen, "#service")
        keys = enabled(screen)
        allowed = {a for a in SERVICE_ACTIONS if screen.check_action(a, ())}
        await pilot.press("l")
        focused = app.focused.id if app.focused else None
    assert shown == {"#lookup-box": False, "#feed-box": False, "#no-service-note": True}
    assert "alliance job request --protocol multilender" in note
    assert service == "no multilender service job is approved on the ledger"  # said once
    assert not keys & {"focus_lookup", "focus_feed"} and not allowed
    assert focused != "applicant"


async def test_a_servers_member_gets_no_lookup_form_but_feeds_its_events() -> None:
    session = QuerySession(replace(SERVING, org="bank"))
    app = AllianceApp(session, watch_events=False)
    async with app.run_test(size=(100, 40)) as pilot:
        screen = await opened(pilot)
        shown = {box: screen.query_one(box).display for box in ("#lookup-box", "#feed-box")}
        keys = enabled(screen)
        await pilot.press("l")
        focused = app.focused.id if app.focused else None
        await look_up_a1(screen, pilot)  # even called directly, nothing is asked
        service = shown_in(screen, "#service")
    assert shown == {"#lookup-box": False, "#feed-box": True}
    assert "focus_lookup" not in keys and "focus_feed" in keys
    assert focused != "applicant" and session.looked_up == 0
    assert "bank runs query server A and may not ask" in service


async def test_a_job_approved_since_brings_the_forms_and_their_keys_back() -> None:
    session = QuerySession(NO_JOB)
    app = AllianceApp(session, watch_events=False)
    async with app.run_test(size=(100, 40)) as pilot:
        screen = await opened(pilot)
        session.state = SERVING
        screen.ledger_changed([])  # the job's approval committed
        await settled(pilot)
        shown = {box: screen.query_one(box).display
                 for box in ("#lookup-box", "#feed-box", "#no-service-note")}
        keys = enabled(screen)
        allowed = {a for a in SERVICE_ACTIONS if screen.check_action(a, ())}
    assert shown == {"#lookup-box": True, "#feed-box": True, "#no-service-note": False}
    assert {"focus_lookup", "focus_feed"} <= keys and allowed == SERVICE_ACTIONS


async def test_an_answer_shown_when_the_job_goes_is_wiped_with_its_form() -> None:
    session = QuerySession(SERVING)
    app = AllianceApp(session, watch_events=False)
    async with app.run_test(size=(100, 40)) as pilot:
        screen = await opened(pilot)
        await look_up_a1(screen, pilot)
        answered = shown_in(screen, "#answer")
        session.state = NO_JOB
        screen.ledger_changed([])  # the job's revocation committed
        await settled(pilot)
        after = shown_in(screen, "#answer")
    assert "Applicant A1" in answered
    assert after.strip() == ""


async def test_an_answer_missing_a_members_contribution_says_so_under_the_table() -> None:
    session = QuerySession(SERVING)
    session.missing = ("telecom",)
    app = AllianceApp(session, watch_events=False)
    async with app.run_test(size=(100, 40)) as pilot:
        screen = await opened(pilot)
        await look_up_a1(screen, pilot)
        answered = shown_in(screen, "#answer")
    assert "note: not counted: telecom" in answered


async def test_a_tick_shows_the_servers_state_read_again() -> None:
    session = QuerySession(SERVING)
    app = AllianceApp(session, watch_events=False)
    async with app.run_test(size=(100, 40)) as pilot:
        screen = await opened(pilot)
        session.state = replace(SERVING, servers=counting(4, 4))
        asked = session.asked
        screen.refresh_servers()  # the timer's callback
        await settled(pilot)
        shown = shown_in(screen, "#service")
    assert session.asked == asked + 1
    assert "platform may ask: 4 of 5 lookups today (UTC)" in shown


async def test_a_tick_leaves_the_purpose_list_as_it_is_while_one_is_being_chosen() -> None:
    app = AllianceApp(QuerySession(SERVING), watch_events=False)
    async with app.run_test(size=(100, 40)) as pilot:
        screen = await opened(pilot)
        select = screen.query_one("#purpose", Select)
        select.focus()
        await pilot.press("enter", "down")  # open it, move to the next purpose
        await pilot.pause()
        overlay = select.query_one(OptionList)  # the open list
        before = (select.expanded, overlay.highlighted)
        screen.refresh_servers()
        await settled(pilot)
        after = (select.expanded, overlay.highlighted)
    assert before[0] and after == before


async def test_ticks_do_not_stack_while_the_servers_are_still_being_asked() -> None:
    session = QuerySession(SERVING)
    app = AllianceApp(session, watch_events=False)
    async with app.run_test(size=(100, 40)) as pilot:
        screen = await opened(pilot)
        asked = session.asked
        session.gate.clear()
        screen.refresh_servers()
        await pilot.pause()
        screen.refresh_servers()
        screen.refresh_servers()
        session.gate.set()
        await settled(pilot)
        screen.refresh_servers()  # the read is over: the next tick asks again
        await settled(pilot)
    assert session.asked == asked + 2


async def test_a_hidden_screen_neither_ticks_nor_asks_the_servers() -> None:
    session = QuerySession(SERVING)
    app = AllianceApp(session, watch_events=False)
    async with app.run_test(size=(100, 40)) as pilot:
        screen = await opened(pilot)
        timer = screen._servers_timer
        assert timer is not None
        app.switch_mode("overview")
        await settled(pilot)
        paused = not timer._active.is_set()
        asked = session.asked
        screen.refresh_servers()
        await settled(pilot)
        asked_hidden = session.asked - asked
        app.switch_mode("query")  # shown again: read at once, and the timer runs again
        await settled(pilot)
        resumed = timer._active.is_set()
    assert paused and resumed
    assert asked_hidden == 0
