"""The founding charter that `alliance network init` writes."""

from __future__ import annotations

from pathlib import Path

import pytest

from alliance.charter import Charter, msp_id_for
from alliance.errors import AllianceError


def test_founding_charter_lists_members_and_auditors() -> None:
    charter = Charter.founding(["bank", "telecom", "platform"], ["regulator"])
    assert charter.voters() == ["bank", "platform", "telecom"]
    assert charter.auditors() == ["regulator"]
    assert charter.members["bank"].msp_id == "BankMSP"


def test_two_of_three_members_pass_a_proposal() -> None:
    charter = Charter.founding(["bank", "telecom", "platform"], ["regulator"])
    assert charter.membership_threshold_pct == 66
    assert charter.votes_needed() == 2


def test_an_org_cannot_be_member_and_auditor() -> None:
    with pytest.raises(AllianceError):
        Charter.founding(["bank"], ["bank"])


def test_network_init_writes_the_charter(network_dir: Path) -> None:
    charter = Charter.load(network_dir / "charter.json")
    assert set(charter.members) == {"bank", "telecom", "platform", "regulator"}
    assert charter.org_of_msp(msp_id_for("telecom")) == "telecom"
