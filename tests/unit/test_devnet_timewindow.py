"""Devnet's copy of Fabric's timewindow auth filter (peer.authentication.timewindow = 15 min)."""

from __future__ import annotations

from network.devnet.service import TIMEWINDOW_SECONDS, timewindow_refusal

NOW = 1_800_000_000


def test_a_proposal_inside_the_window_passes() -> None:
    assert timewindow_refusal(NOW - TIMEWINDOW_SECONDS, NOW) is None
    assert timewindow_refusal(NOW + TIMEWINDOW_SECONDS, NOW) is None


def test_a_backdated_proposal_is_refused_as_fabric_words_it() -> None:
    refusal = timewindow_refusal(NOW - TIMEWINDOW_SECONDS - 1, NOW)
    assert refusal == (
        "request unauthorized due to incorrect timestamp 2027-01-15T07:44:59Z, peer time "
        "2027-01-15T08:00:00Z, peer.authentication.timewindow 15m0s"
    )


def test_a_future_dated_proposal_is_refused() -> None:
    assert timewindow_refusal(NOW + TIMEWINDOW_SECONDS + 1, NOW) is not None
