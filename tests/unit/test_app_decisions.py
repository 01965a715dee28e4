"""What waits for an org's decision, who may decide, and what it can know of each member node:
the application layer's pure rules under the TUI's Overview, inbox and job screens (tui_seed's
records: job 1 waits for bank's approval, the fintech join proposal for bank's and platform's
votes)."""

from __future__ import annotations

from tui_seed import JOBS, MEMBERS, PROPOSALS

from alliance.app.decisions import (
    awaits_approval,
    awaits_vote,
    is_read_only,
    may_revoke,
    pending_decisions,
)
from alliance.app.events import changed_jobs
from alliance.app.nodes import node_health


def test_an_auditor_or_a_stranger_is_read_only_and_a_member_is_not() -> None:
    assert is_read_only(MEMBERS, "regulator")
    assert is_read_only(MEMBERS, "fintech")
    assert not is_read_only(MEMBERS, "bank")


def test_a_requested_job_waits_only_for_an_approver_that_has_not_approved() -> None:
    assert awaits_approval(JOBS[0], "bank")
    assert not awaits_approval(JOBS[0], "telecom")
    assert not awaits_approval(JOBS[1], "bank")  # completed


def test_a_job_put_to_a_vote_waits_for_every_member_that_has_not_voted() -> None:
    voted = JOBS[0].model_copy(update={"votes_needed": 2})
    assert awaits_vote(voted, "platform")
    assert not awaits_vote(JOBS[0], "platform")


def test_pending_decisions_count_approvals_and_proposal_votes_but_not_own_proposals() -> None:
    bank = pending_decisions(list(JOBS), list(PROPOSALS), "bank")
    assert [j.id for j in bank.approvals] == [JOBS[0].id]
    assert [p.id for p in bank.proposals] == [PROPOSALS[0].id]  # the passed one is not pending
    assert bank.total == 2
    assert pending_decisions(list(JOBS), list(PROPOSALS), "telecom").proposals == []


class _Event:
    def __init__(self, payload: bytes) -> None:
        self.payload = payload


def test_changed_jobs_names_the_jobs_or_none_when_an_event_is_about_something_else() -> None:
    assert changed_jobs([_Event(b'{"job_id": "job-1"}'), _Event(b'{"job_id": "job-2"}')]) == {
        "job-1", "job-2"}
    assert changed_jobs([_Event(b'{"job_id": "job-1"}'), _Event(b'{"org": "bank"}')]) is None
    assert changed_jobs(None) is None


def test_node_health_knows_the_own_node_and_only_ledger_claims_of_the_others() -> None:
    running = JOBS[1].model_copy(update={"state": "RUNNING"})
    health = {n.org: n for n in node_health(list(MEMBERS), [running, JOBS[0]], "bank",
                                            (True, 14))}
    assert (health["bank"].up, health["bank"].checkpoint_block) == (True, 14)
    assert health["bank"].running_jobs == [running.id]
    telecom = health["telecom"]
    assert (telecom.up, telecom.checkpoint_block, telecom.source) == (None, None, "ledger only")
    assert telecom.running_jobs == [running.id]
    assert health["platform"].running_jobs == []
    assert "regulator" not in health  # an auditor runs no node


def test_only_the_requester_or_an_approver_may_revoke_and_only_before_runs_are_used_up() -> None:
    assert may_revoke(JOBS[0], "telecom")  # requester
    assert may_revoke(JOBS[0], "bank")  # approver
    assert not may_revoke(JOBS[0], "platform")
    assert not may_revoke(JOBS[1], "telecom")  # completed, its one run used
    assert may_revoke(JOBS[1].model_copy(update={"max_runs": 2}), "telecom")
    assert not may_revoke(JOBS[3], "telecom")  # rejected
