"""The TUI driven by textual's Pilot against a real devnet and real member nodes (one alliance
shared by the module): membership votes, dataset registration, the job wizard, approval in a
second app instance, the recipient's output, rejection, revocation, the auditor's read-only
view, and a ledger restarted under a running app."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from node_cluster import PASSPHRASE, approve_all, request, running_alliance
from textual.css.query import NoMatches
from textual.pilot import Pilot
from textual.widgets import Input, Select, SelectionList, Static

from alliance.cli.demo.flow import DemoFlow
from tui.app import AllianceApp
from tui.backend import Session
from tui.screens.dataset_detail import DatasetDetailScreen
from tui.screens.job_detail import JobDetailScreen
from tui.screens.members import MembersScreen
from tui.screens.wizard import WizardScreen
from tui.widgets.banner import LedgerBanner

pytestmark = pytest.mark.slow

WAIT = 40.0
SIZE = (120, 40)


@pytest.fixture(scope="module")
def alliance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoFlow]:
    with running_alliance(tmp_path_factory.mktemp("tui") / "net") as flow:
        yield flow


def app_for(flow: DemoFlow, org: str, user: str = "admin") -> AllianceApp:
    return AllianceApp(Session(flow.net_dir, org, user, PASSPHRASE))


async def until(pilot: Pilot, predicate: Callable[[], object], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not _holds(predicate):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        await pilot.pause(0.1)


def _holds(predicate: Callable[[], object]) -> bool:
    try:
        return bool(predicate())
    except NoMatches:  # the screen is still being composed
        return False


async def ledger_answers(pilot: Pilot) -> None:
    app = pilot.app
    assert isinstance(app, AllianceApp)
    await until(pilot, lambda: app.identity_known and not app.ledger_problem, "the ledger answers")


def text_of(app: AllianceApp, selector: str) -> str:
    """What a Static shows, as plain text (wide, so that full ids stay on one line)."""
    from rich.console import Console

    console = Console(width=400, no_color=True)
    with console.capture() as captured:
        console.print(app.screen.query_one(selector, Static).content)
    return captured.get()


def job_page_loaded(app: AllianceApp, job_id: str) -> bool:
    """The job's page shows its status, read from the ledger (not only its empty frame)."""
    status = text_of(app, "#status")
    return job_id in status or "REQUESTED" in status


def enabled_actions(app: AllianceApp) -> set[str]:
    return {b.binding.action for b in app.screen.active_bindings.values() if b.enabled}


async def on_ledger(call: Callable[[], object]) -> object:
    return await asyncio.to_thread(call)


async def test_a_proposal_made_in_one_app_and_voted_in_another_admits_the_org(
    alliance: DemoFlow,
) -> None:
    app = app_for(alliance, "bank")
    async with app.run_test(size=SIZE) as pilot:
        await ledger_answers(pilot)
        app.switch_mode("members")
        await pilot.pause()
        await pilot.press("p")
        modal = app.screen
        modal.query_one("#org", Input).value = "fintech"
        modal.query_one("#reason", Input).value = "a fintech asks to join"
        await pilot.click("#confirm")
        await until(
            pilot,
            lambda: any(
                p["org"] == "fintech" for p in alliance.evaluate("bank", "ListProposals", "")
            ),
            "the proposal is on the ledger",
        )
    proposal = next(
        p for p in alliance.evaluate("bank", "ListProposals", "") if p["org"] == "fintech"
    )

    second = app_for(alliance, "telecom")
    async with second.run_test(size=SIZE) as pilot:
        await ledger_answers(pilot)
        second.open_proposal(proposal["id"])
        screen = second.screen
        assert isinstance(screen, MembersScreen)
        await until(pilot, lambda: proposal["id"] in screen._proposals, "the proposal is listed")
        screen.select_proposal(proposal["id"])
        await pilot.press("y")
        assert "admit fintech as member" in text_of(second, ".dialog-body")
        await pilot.click("#confirm")
        await until(
            pilot,
            lambda: any(
                m["org"] == "fintech" and m["status"] == "active"
                for m in alliance.evaluate("bank", "ListMembers")
            ),
            "fintech is an active member",
        )


async def test_registering_a_file_puts_its_fingerprint_on_the_ledger(
    alliance: DemoFlow, tmp_path: Path
) -> None:
    data = tmp_path / "loans.csv"
    data.write_text("loan_id,amount\n" + "".join(f"L{i},{i * 10}\n" for i in range(50)))
    app = app_for(alliance, "bank")
    async with app.run_test(size=SIZE) as pilot:
        await ledger_answers(pilot)
        app.switch_mode("datasets")
        await pilot.pause()
        await pilot.press("r")
        screen = app.screen
        screen.query_one("#file", Input).value = str(data)
        await pilot.click("#preview")
        await until(pilot, lambda: screen.query_one("#name", Input).value == "loans",
                    "the preview names the dataset")
        assert "loan_id" in text_of(app, "#preview-out")
        await pilot.click("#register")
        await until(pilot, lambda: isinstance(app.screen, DatasetDetailScreen),
                    "the new dataset's page opens")
        dataset = alliance.evaluate("bank", "GetDataset", "bank/loans")
        assert dataset["row_count"] == 50
        await until(pilot, lambda: dataset["fingerprint"] in text_of(app, "#facts"),
                    "the page shows the full fingerprint")


async def test_a_new_version_from_the_dataset_page_bumps_its_version_on_the_ledger(
    alliance: DemoFlow, tmp_path: Path
) -> None:
    data = tmp_path / "branches.csv"
    data.write_text("branch_id,staff\nB1,3\n")
    alliance.submit("bank", "RegisterDataset", json.dumps({
        "name": "branches", "schema": [{"name": "branch_id", "type": "string"},
                                       {"name": "staff", "type": "integer"}],
        "row_count": 1, "fingerprint": "sha256:" + "0" * 64, "description": "", "tags": [],
    }))
    data.write_text("branch_id,staff\nB1,3\nB2,5\n")
    app = app_for(alliance, "bank")
    async with app.run_test(size=SIZE) as pilot:
        await ledger_answers(pilot)
        app.push_screen_dataset("bank/branches")
        await until(pilot, lambda: "new_version" in enabled_actions(app), "the owner may update")
        await pilot.press("u")
        app.screen.query_one("#file", Input).value = str(data)
        await pilot.click("#register")
        await until(
            pilot,
            lambda: alliance.evaluate("bank", "GetDataset", "bank/branches")["version"] == 2,
            "version 2 is on the ledger",
        )
        fingerprint = alliance.evaluate("bank", "GetDataset", "bank/branches")["fingerprint"]
        await until(pilot, lambda: isinstance(app.screen, DatasetDetailScreen)
                    and fingerprint in text_of(app, "#facts"),
                    "the dataset's page shows the new version")
    assert alliance.evaluate("bank", "GetDataset", "bank/branches")["row_count"] == 2


async def test_retiring_from_the_dataset_page_after_the_confirmation_retires_it_on_the_ledger(
    alliance: DemoFlow,
) -> None:
    alliance.submit("bank", "RegisterDataset", json.dumps({
        "name": "atms", "schema": [{"name": "atm_id", "type": "string"}],
        "row_count": 1, "fingerprint": "sha256:" + "1" * 64, "description": "", "tags": [],
    }))
    app = app_for(alliance, "bank")
    async with app.run_test(size=SIZE) as pilot:
        await ledger_answers(pilot)
        app.push_screen_dataset("bank/atms")
        await until(pilot, lambda: "retire" in enabled_actions(app), "the owner may retire")
        await pilot.press("ctrl+x")
        assert "no new job may name it" in text_of(app, ".dialog-body")
        await pilot.click("#confirm")
        await until(
            pilot,
            lambda: alliance.evaluate("bank", "GetDataset", "bank/atms")["status"] == "retired",
            "the dataset is retired on the ledger",
        )
        await until(pilot, lambda: "retired" in text_of(app, "#facts"), "the page says so")


async def test_a_job_requested_in_the_wizard_and_approved_in_a_second_app_completes_and_only_the_recipient_sees_its_output(  # noqa: E501
    alliance: DemoFlow,
) -> None:
    bank_input = alliance._input("bank")
    telecom_input = alliance._input("telecom")
    requester = app_for(alliance, "telecom")
    async with requester.run_test(size=SIZE) as pilot:
        await ledger_answers(pilot)
        await pilot.press("w")
        wizard = requester.screen
        assert isinstance(wizard, WizardScreen)
        await until(pilot, lambda: bool(wizard.datasets), "the catalog is loaded")
        wizard.query_one("#protocol-select", Select).value = "stats"
        await pilot.pause()
        await pilot.press("ctrl+n")
        picks = wizard.query_one("#input-list", SelectionList)
        picks.select(bank_input)
        picks.select(telecom_input)
        await pilot.press("ctrl+n")
        wizard.query_one("#param-op", Input).value = "sum"
        await pilot.press("ctrl+n")
        wizard.query_one("#out-result", SelectionList).select("telecom")
        await pilot.press("ctrl+n")
        await pilot.press("ctrl+n")
        review = text_of(requester, "#review-body")
        bank_fp = alliance.evaluate("bank", "GetDataset", bank_input.split(":")[0])["fingerprint"]
        assert bank_fp in review
        await pilot.press("ctrl+s")
        await until(pilot, lambda: isinstance(requester.screen, JobDetailScreen),
                    "the new job's page opens")
        job_id = requester.screen.job_id  # type: ignore[attr-defined]
        # leave only once the page has loaded: an app closed while the new screen's header was
        # still mounting failed in textual's own title callback (NoMatches: HeaderTitle)
        await until(pilot, lambda: job_page_loaded(requester, job_id), "the new job's page loads")

    approver = app_for(alliance, "bank")
    async with approver.run_test(size=SIZE) as pilot:
        await ledger_answers(pilot)
        approver.open_job(job_id)
        screen = approver.screen
        await until(pilot, lambda: "approve" in enabled_actions(approver),
                    "approve is offered to the input owner")
        assert bank_fp in text_of(approver, "#authorization")
        await pilot.press("a")
        await pilot.click("#confirm")
        await until(pilot, lambda: "COMPLETED" in text_of(approver, "#status"),
                    "the app shows the job COMPLETED")
        assert isinstance(screen, JobDetailScreen)
        assert "receives no output" in text_of(approver, "#output")

    job = alliance.evaluate("bank", "GetJob", job_id)
    assert job["state"] == "COMPLETED"
    digest = job["results"]["1"]["output_digests"]["result"]
    recipient = app_for(alliance, "telecom")
    async with recipient.run_test(size=SIZE) as pilot:
        await ledger_answers(pilot)
        recipient.open_job(job_id)
        await until(pilot, lambda: digest in text_of(recipient, "#output"),
                    "the recipient sees its delivered output with the ledger's digest")


async def test_the_wizard_offers_the_members_as_recipients_and_dealers_not_the_auditor(
    alliance: DemoFlow,
) -> None:
    app = app_for(alliance, "telecom")
    async with app.run_test(size=SIZE) as pilot:
        await ledger_answers(pilot)
        await pilot.press("w")
        wizard = app.screen
        assert isinstance(wizard, WizardScreen)
        await until(pilot, lambda: bool(wizard.members), "the members are loaded")
        wizard.query_one("#protocol-select", Select).value = "stats"
        await until(pilot, lambda: wizard.query("#out-result"), "the outputs are listed")
        recipients = wizard.query_one("#out-result", SelectionList)
        offered = {recipients.get_option_at_index(i).value
                   for i in range(recipients.option_count)}
        dealers = {value for _, value in wizard.query_one("#dealer", Select)._options
                   if isinstance(value, str)}
    members = {m["org"] for m in alliance.evaluate("bank", "ListMembers")
               if "member" in m["roles"] and m["status"] == "active"}
    assert offered == members and dealers == members
    assert "regulator" not in offered


async def test_rejecting_with_a_reason_records_it_on_the_ledger(alliance: DemoFlow) -> None:
    job = request(alliance, "telecom", [alliance._input("bank"), alliance._input("telecom")],
                  "telecom")
    app = app_for(alliance, "bank")
    async with app.run_test(size=SIZE) as pilot:
        await ledger_answers(pilot)
        app.open_job(job["id"])
        await until(pilot, lambda: "reject" in enabled_actions(app), "reject is offered")
        await pilot.press("x")
        app.screen.query_one("#reason", Input).value = "not for marketing"
        await pilot.click("#confirm")
        await until(pilot, lambda: "not for marketing" in text_of(app, "#status"),
                    "the page shows the rejection and its reason")
    rejected = alliance.evaluate("bank", "GetJob", job["id"])
    assert rejected["state"] == "REJECTED"
    assert rejected["rejection"]["reason"] == "not for marketing"


async def test_the_requester_revokes_after_a_reason_and_a_confirmation(
    alliance: DemoFlow,
) -> None:
    job = request(alliance, "telecom", [alliance._input("bank"), alliance._input("telecom")],
                  "telecom")
    app = app_for(alliance, "telecom")
    async with app.run_test(size=SIZE) as pilot:
        await ledger_answers(pilot)
        app.open_job(job["id"])
        await until(pilot, lambda: "revoke" in enabled_actions(app), "revoke is offered")
        await pilot.press("k")
        app.screen.query_one("#reason", Input).value = "asked the wrong question"
        await pilot.click("#confirm")
        await until(pilot, lambda: "cannot be undone" in str(app.screen.query_one(
            ".dialog-title", Static).content), "the confirmation says it is irreversible")
        await pilot.click("#confirm")
        await until(pilot, lambda: "asked the wrong question" in text_of(app, "#authorization")
                    or "asked the wrong question" in text_of(app, "#status"),
                    "the page shows the revocation and its reason")
        assert "revoke" not in enabled_actions(app)
    revoked = alliance.evaluate("bank", "GetJob", job["id"])
    assert revoked["state"] == "REVOKED"
    assert revoked["revocation"] == {**revoked["revocation"], "org": "telecom",
                                     "reason": "asked the wrong question"}


async def test_an_auditor_sees_no_action(alliance: DemoFlow) -> None:
    job = request(alliance, "telecom", [alliance._input("bank"), alliance._input("telecom")],
                  "telecom")
    app = app_for(alliance, "regulator")
    writes = {"approve", "reject", "revoke", "propose", "vote('yes')", "vote('no')", "register",
              "new_job", "retire"}
    async with app.run_test(size=SIZE) as pilot:
        await ledger_answers(pilot)
        assert app.read_only
        for mode in ("overview", "jobs", "datasets", "members"):
            app.switch_mode(mode)
            await pilot.pause()
            assert not (enabled_actions(app) & writes), mode
        app.open_job(job["id"])
        await until(pilot, lambda: job_page_loaded(app, job["id"]), "the job is shown")
        assert not (enabled_actions(app) & writes)
        await pilot.press("a")
        await pilot.pause(0.5)
        assert isinstance(app.screen, JobDetailScreen)
    assert "regulator" not in alliance.evaluate("bank", "GetJob", job["id"])["approvals"]


async def test_an_auditor_verifies_the_chain_from_the_audit_screen(alliance: DemoFlow) -> None:
    app = app_for(alliance, "regulator")
    async with app.run_test(size=SIZE) as pilot:
        await ledger_answers(pilot)
        app.switch_mode("audit")
        await pilot.pause()
        await pilot.press("k")
        await until(pilot, lambda: "verified" in text_of(app, "#tx"), "the chain is verified")
        assert "True" in text_of(app, "#tx")


async def test_the_recipient_verifies_its_delivered_file_against_the_ledger(
    alliance: DemoFlow,
) -> None:
    job = approve_all(alliance, request(
        alliance, "telecom", [alliance._input("bank"), alliance._input("telecom")], "telecom"))
    app = app_for(alliance, "telecom")
    said: list[str] = []
    async with app.run_test(size=SIZE) as pilot:
        app.notify = lambda message, **kw: said.append(str(message))  # type: ignore[method-assign]
        await ledger_answers(pilot)
        app.open_job(job["id"])
        await until(pilot, lambda: "result.json" in text_of(app, "#output"),
                    "the delivered output is shown")
        await pilot.press("v")
        await until(pilot, lambda: app.screen.query("#path"), "the verify dialog opens")
        assert app.screen.query_one("#path", Input).value.endswith("result.json")
        await pilot.click("#confirm")
        await until(pilot, lambda: any("MATCHES" in m for m in said), "the verdict is shown")
    assert not any("DOES NOT MATCH" in m for m in said)


async def test_a_ledger_restarted_under_a_running_app_shows_the_banner_then_recovers(
    alliance: DemoFlow,
) -> None:
    from network.devnet.launcher import start_devnet, stop_devnet

    app = app_for(alliance, "bank")
    async with app.run_test(size=SIZE) as pilot:
        await ledger_answers(pilot)
        await on_ledger(lambda: stop_devnet(alliance.net_dir))
        banner = app.screen.query_one(LedgerBanner)
        await until(pilot, lambda: bool(app.ledger_problem) and banner.has_class("down"),
                    "the banner shows the ledger is unreachable")
        await on_ledger(lambda: start_devnet(alliance.net_dir, batch_timeout_ms=20))
        await until(pilot, lambda: not app.ledger_problem, "the app reconnects")
        assert not banner.has_class("down")
        seen = app.events_seen

        def propose() -> None:
            from network.connection import connect_member

            with connect_member(alliance.net_dir, "telecom", "admin", PASSPHRASE) as conn:
                conn.contract.submit_transaction(
                    "ProposeMember",
                    '{"action":"set_roles","org":"telecom","reason":"after restart",'
                    '"roles":["member","auditor"]}',
                )

        await on_ledger(propose)
        await until(pilot, lambda: app.events_seen > seen, "an event after the restart arrives")
