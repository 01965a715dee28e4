"""devnet remembers validated creators (each check is an ECDSA verification), but never past the
moment the CRL's revocation of one takes effect. A CRL's dates are whole seconds, and a check
within the revocation's own second still accepts (it may be a moment before): remembered until
its certificate expired, such a creator was accepted until the next MSP reload (the suite's
intermittent `test_certificate_revoked_while_devnet_runs_is_rejected`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from alliance.msp import MspRegistry, load_msp, revoke_certificate
from alliance.network_init import init_network
from alliance.wallet import load_user
from network.devnet import msp as devnet_msp
from network.devnet.msp import AccessDenied, CreatorValidator
from network.protoutil import serialize_identity


class _Clock(datetime):
    at: datetime = datetime.now(UTC)

    @classmethod
    def now(cls, tz: object = None) -> datetime:  # type: ignore[override]
        return cls.at


@pytest.fixture
def net(tmp_path: Path) -> Path:
    init_network(tmp_path / "net", ["bank", "telecom"], [], b"pw")
    return tmp_path / "net"


def test_a_creator_accepted_in_its_revocations_second_is_refused_once_it_ends(
    net: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    victim, _ = load_user(net, "bank", "client", b"pw")
    revoke_certificate(net, "bank", victim.certificate, b"pw")
    revoked_at = load_msp(net / "orgs/bank/msp", "BankMSP").revoked_at[victim.cert.serial_number]
    validator = CreatorValidator(MspRegistry.from_network(net))
    serialized = serialize_identity(victim.msp_id, victim.certificate)
    monkeypatch.setattr(devnet_msp, "datetime", _Clock)

    _Clock.at = revoked_at + timedelta(milliseconds=900)  # the CRL date's own second
    validator.creator(serialized)
    _Clock.at = revoked_at + timedelta(seconds=1)
    with pytest.raises(AccessDenied, match="revoked"):
        validator.creator(serialized)


def test_a_creator_nobody_revoked_is_remembered(net: Path) -> None:
    user, _ = load_user(net, "bank", "client", b"pw")
    registry = MspRegistry.from_network(net)
    assert registry.revoked_from(user) is None
    validator = CreatorValidator(registry)
    serialized = serialize_identity(user.msp_id, user.certificate)
    first = validator.creator(serialized)
    assert validator.creator(serialized) is first
