"""The TUI's multi-lender query screen driven by textual's Pilot against the governed service of
test_query_governed (its fixtures: devnet, member nodes and the two query servers started by
`network up`, the multilender job approved, every member's events fed): a lookup through the
screen answers what the CLI answers; a lookup without its consent document and one with a
server down say why, as the CLI does; an auditor sees the service but cannot look up or push; a
member pushes an events file and reads the outcome."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from test_query_governed import EXPECTED, _answer, client, consent, job, net, served  # noqa: F401
from test_tui import ledger_answers, text_of, until
from textual.pilot import Pilot
from textual.widgets import Input, Select

from alliance.app.query import LookupAnswer, lookup, member_store, records, summaries
from alliance.app.session import open_session
from alliance.cli import main
from node.query.launcher import kill_query_server
from tui.app import AllianceApp
from tui.backend import Session
from tui.screens.query import QueryScreen
from tui.widgets.filter_table import FilterTable, MeasuredTable

pytestmark = pytest.mark.slow

SIZE = (120, 40)


def app_for(net_dir: Path, org: str, passphrase: bytes) -> AllianceApp:
    return AllianceApp(Session(net_dir, org, "admin", passphrase))


async def query_screen(pilot: Pilot, job_id: str) -> QueryScreen:
    """The query screen opened by its key, once it shows the service job."""
    app = pilot.app
    assert isinstance(app, AllianceApp)
    await ledger_answers(pilot)
    await pilot.press("7")
    screen = app.screen
    assert isinstance(screen, QueryScreen)
    await until(pilot, lambda: job_id in text_of(app, "#service"), "the service job is shown")
    return screen


async def look_up(pilot: Pilot, applicant: str, purpose: str, consent_file: Path) -> None:
    screen = pilot.app.screen
    await pilot.press("l")
    await pilot.press(*applicant)
    screen.query_one("#purpose", Select).value = purpose
    screen.query_one("#consent", Input).value = str(consent_file)
    await pilot.click("#ask")


def answer_fields(shown: str) -> dict[str, str]:
    """The answer table's rows (`│ field │ value │`) as a mapping."""
    from rich.text import Text

    plain = Text.from_ansi(shown).plain
    cells = [[c.strip() for c in line.split("│")[1:-1]] for line in plain.splitlines()]
    return {c[0]: c[1] for c in cells if len(c) == 2}


def answered(app: AllianceApp, *words: str) -> Callable[[], bool]:
    return lambda: all(w in text_of(app, "#answer") for w in words) and "asking" not in text_of(
        app, "#answer")


async def test_a_lookup_through_the_screen_answers_what_the_cli_answers(
    served: Path, job: str, consent: Path, passphrase: bytes  # noqa: F811
) -> None:
    before = {r["record"] for r in records(served, "insurer")}
    app = app_for(served, "insurer", passphrase)
    async with app.run_test(size=SIZE) as pilot:
        screen = await query_screen(pilot, job)
        assert "insurer may ask" in text_of(app, "#service")
        servers = screen.query_one("#servers", MeasuredTable)
        await until(pilot, lambda: servers.row_count == 2, "both servers are listed")
        await look_up(pilot, "A1", "credit_check", consent)
        await until(pilot, answered(app, "across the other members"), "the answer is shown")
        shown = text_of(app, "#answer")
        assert "A1" in shown, shown
        fields = answer_fields(shown)
        as_cli = LookupAnswer("A1", "credit_check", EXPECTED, 0, fields["record"], ()).shown()
        assert fields == {**as_cli, "table": fields["table"]}
        assert fields["outstanding"] == f"{EXPECTED['outstanding_cents'] / 100:,.2f}"
        new = {r["record"] for r in records(served, "insurer")} - before
        assert len(new) == 1
        record = new.pop()
        assert record in shown
        assert screen.query_one("#applicant", Input).value == ""  # not kept in the form
        table = screen.query_one("#records", FilterTable)
        await until(pilot, lambda: record in table.keys, "the record is listed")
        app.switch_mode("overview")  # leaving the screen wipes the applicant from it
        await pilot.pause()
        app.switch_mode("query")
        await until(pilot, lambda: text_of(app, "#answer").strip() == "", "the answer is gone")


async def test_a_lookup_without_its_consent_document_says_so(
    served: Path, job: str, passphrase: bytes, tmp_path: Path  # noqa: F811
) -> None:
    before = len(records(served, "insurer"))
    app = app_for(served, "insurer", passphrase)
    async with app.run_test(size=SIZE) as pilot:
        await query_screen(pilot, job)
        await look_up(pilot, "A1", "credit_check", tmp_path / "missing-consent.pdf")
        await until(pilot, answered(app, "missing-consent.pdf"), "the refusal is shown")
        shown = text_of(app, "#answer")
    assert "no such consent document" in shown and "--consent FILE" in shown
    assert "active_loans" not in shown
    assert len(records(served, "insurer")) == before


async def test_a_lookup_over_the_members_daily_quota_is_refused_by_the_servers(
    served: Path, job: str, consent: Path, passphrase: bytes  # noqa: F811
) -> None:
    app = app_for(served, "platform", passphrase)  # platform may ask 3 times a day
    async with app.run_test(size=SIZE) as pilot:
        await query_screen(pilot, job)
        for n in range(3):
            await look_up(pilot, "A2", "credit_check", consent)
            await until(pilot, answered(app, "across the other members"), f"answer {n + 1}")
            await pilot.press("escape")
            await until(pilot, lambda n=n: f"{n + 1} of 3 lookups today" in text_of(
                app, "#service"), "the count of today's lookups goes up")
        await look_up(pilot, "A2", "credit_check", consent)
        await until(pilot, answered(app, "REFUSED"), "the refusal is shown")
        shown = text_of(app, "#answer")
    assert "over_quota" in shown and "try again tomorrow (UTC)" in shown
    assert "active_loans" not in shown


async def test_a_server_down_is_named_with_what_to_do_and_no_answer(
    served: Path, job: str, consent: Path, passphrase: bytes,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    app = app_for(served, "insurer", passphrase)
    try:
        async with app.run_test(size=SIZE) as pilot:
            screen = await query_screen(pilot, job)
            assert await asyncio.to_thread(kill_query_server, served, "telecom") is not None
            servers = screen.query_one("#servers", MeasuredTable)
            # the screen's own read of the servers sees the kill first: a click while that read
            # redraws the form was once lost (the answer empty, no notification; CI, 1 in ~20)
            await until(pilot, lambda: "not running" in str(servers.get_row("telecom")[2]),
                        "the servers' table shows telecom's server not running")
            await look_up(pilot, "A1", "credit_check", consent)
            try:
                await until(pilot, answered(app, "telecom"), "the failure is shown")
            except AssertionError as exc:  # say what the screen showed instead
                raise AssertionError(f"{exc}; the answer shows {text_of(app, '#answer')!r}, "
                                     f"notifications {[n.message for n in app._notifications]}"
                                     ) from exc
            shown = text_of(app, "#answer")
            assert "NO ANSWER" in shown and "network up" in shown
            assert "active_loans" not in shown
    finally:
        assert main(["network", "up", "--dir", str(served)]) == 0
        until_answer = asyncio.to_thread(_wait_answer, capsys, served, consent)
        await until_answer


def _wait_answer(capsys: pytest.CaptureFixture[str], net_dir: Path, consent_file: Path) -> None:
    from test_query_governed import until as poll

    poll("the servers to answer again", lambda: _answer(capsys, net_dir, consent_file))


async def test_an_auditor_sees_the_service_and_summaries_but_cannot_look_up_or_push(
    served: Path, job: str, consent: Path, passphrase: bytes  # noqa: F811
) -> None:
    with open_session(served, "insurer", passphrase=passphrase) as session:  # one to commit
        await asyncio.to_thread(lookup, session, "A1", "credit_check", consent)
    app = app_for(served, "regulator", passphrase)
    async with app.run_test(size=SIZE) as pilot:
        screen = await query_screen(pilot, job)
        assert app.read_only
        enabled = {b.binding.action for b in screen.active_bindings.values() if b.enabled}
        assert not enabled & {"focus_lookup", "lookup", "focus_feed", "feed", "copy"}
        await until(pilot, lambda: screen.query_one("#read-only-note").display,
                    "the read-only note is shown")
        assert not screen.query_one("#lookup-box").display
        assert not screen.query_one("#feed-box").display
        await pilot.press("l", "e")
        assert app.screen.focused is None or app.screen.focused.id not in ("applicant",
                                                                           "events-file")
        screen.action_lookup()  # even called directly, nothing is asked
        await pilot.pause()
        assert text_of(app, "#answer").strip() == ""
        table = screen.query_one("#summaries", FilterTable)
        deadline = time.monotonic() + 60
        while not table.keys and time.monotonic() < deadline:  # the lookups above, committed
            await pilot.press("r")
            await until(pilot, lambda: "asking" not in text_of(app, "#service"), "a reload")
            await pilot.pause(1)
        assert table.keys, "no period summary was committed"
        table.table.focus()
        await pilot.press("enter")
        detail = text_of(app, "#summary-detail")
    with open_session(served, "regulator", passphrase=passphrase) as session:
        on_ledger = await asyncio.to_thread(summaries, session)
    # the summary opened, as the ledger holds it (its table refreshes as the servers commit a
    # summary a second here, so the row under the cursor is found by what the detail shows)
    shown = [s for s in on_ledger if s["merkle_root"] in detail]
    assert len(shown) == 1, detail
    assert shown[0]["tx_id"] in detail and shown[0]["server"] in detail
    assert not (served / "orgs" / "regulator" / "node" / "query-member").exists()


async def test_a_member_pushes_an_events_file_and_reads_the_outcome(
    served: Path, job: str, passphrase: bytes  # noqa: F811
) -> None:
    store = member_store(served, "telecom")
    before = max(store.versions())
    today = time.strftime("%Y-%m-%d", time.gmtime())
    events = served.parent / "telecom-more.csv"
    events.write_text("kind,applicant_id,date,loan_id,amount_cents\n"
                      f"application,A7,{today},,0\n")
    app = app_for(served, "telecom", passphrase)
    async with app.run_test(size=SIZE) as pilot:
        screen = await query_screen(pilot, job)
        await pilot.press("e")
        await pilot.press(*str(events))
        await pilot.press("enter")
        await until(pilot, lambda: "sent to bank, telecom" in text_of(app, "#feed-outcome"),
                    "the outcome is shown")
        outcome = text_of(app, "#feed-outcome")
        assert screen.query_one("#events-file", Input).value == ""
    assert max(store.versions()) == before + 1
    assert f"1 event(s) added; contribution version {before + 1}" in outcome


async def test_todays_use_is_what_the_servers_count_with_lookups_this_node_did_not_keep(
    served: Path, job: str, passphrase: bytes  # noqa: F811
) -> None:
    with client(served, "insurer", passphrase) as c:  # asked directly: no record kept here
        await asyncio.to_thread(c.lookup, "A1", "credit_check", "sha256:" + "ab" * 32)
        counts = [s["used_today"]["lookups"] for s in await asyncio.to_thread(c.status)]
    kept = len(records(served, "insurer"))
    assert min(counts) > kept  # the servers counted a lookup this node kept no record of
    expected = (f"insurer may ask: {counts[0]} of 100 lookups today (UTC), as both servers "
                "count them" if counts[0] == counts[1] else
                f"used today: {counts[0]} by bank's count, {counts[1]} by telecom's count")
    app = app_for(served, "insurer", passphrase)
    async with app.run_test(size=SIZE) as pilot:
        await query_screen(pilot, job)
        await until(pilot, lambda: expected in text_of(app, "#service"), "the servers' count")
