"""A rotation's old certificate keeps working on the nodes' MPC links until its grace period
ends, then is refused there as in the contract (`revoked_pairs` is what the link checks)."""

from __future__ import annotations

from node.peer_auth import revoked_pairs

FP = "sha256:" + "ab" * 32


def _record(at: int, effective_at: int | None) -> dict[str, object]:
    return {"fingerprint": FP, "org": "bank", "tx_id": "t" * 64, "at": at,
            "effective_at": effective_at, "reason": "superseded", "replaced_by": None}


def test_a_revocation_without_grace_bites_at_once() -> None:
    assert revoked_pairs([_record(100, None)], now=100) == {("bank", FP)}


def test_a_revocation_in_its_grace_period_does_not_bite_yet() -> None:
    assert revoked_pairs([_record(100, 700)], now=699) == frozenset()
    assert revoked_pairs([_record(100, 700)], now=700) == {("bank", FP)}
