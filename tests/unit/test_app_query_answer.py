"""How a lookup's answer reads: when its table was formed, and which members it cannot count
yet (a contributor with no contribution in the table is not in the sums: an undercount the
risk officer must see, not a silent zero)."""

from __future__ import annotations

import time

from alliance.app.query import LookupAnswer, not_counted


def answer(missing: tuple[str, ...] = (), epoch: int = 1796260570262) -> LookupAnswer:
    return LookupAnswer("C00042", "credit_check", {"active_loans": 1}, epoch,
                        "lk-0123456789abcdef", missing)


def test_contributors_without_a_contribution_in_the_table_are_not_counted() -> None:
    assert not_counted(frozenset({"bank", "telecom", "platform"}), {"platform": 3},
                       "bank") == ("telecom",)


def test_the_askers_own_missing_contribution_is_not_an_undercount() -> None:
    assert not_counted(frozenset({"bank", "telecom"}), {"telecom": 1}, "bank") == ()


def test_the_note_names_the_members_not_counted_and_when_to_ask_again() -> None:
    note = answer(("platform", "telecom")).note()
    assert note.startswith("not counted: platform, telecom")
    assert "ask again" in note


def test_a_complete_answer_has_no_note() -> None:
    assert answer().note() == ""


def test_the_answer_shows_its_table_with_the_local_time_it_was_formed() -> None:
    now_ms = int(time.time() * 1000)
    shown = answer(epoch=now_ms).shown()
    assert shown["table"].startswith(f"{now_ms}, formed ")
    assert shown["table"].endswith("(now)")
    assert shown["active_loans"] == "1" and shown["record"] == "lk-0123456789abcdef"


def test_the_outstanding_amount_reads_in_currency_units_and_json_keeps_the_cents() -> None:
    shown = LookupAnswer("C00042", "credit_check", {"outstanding_cents": 6343687}, 1796260570262,
                         "lk-0123456789abcdef", ()).shown()
    assert shown["outstanding"] == "63,436.87" and "outstanding_cents" not in shown


def test_json_carries_the_missing_members_and_an_iso_time() -> None:
    data = answer(("telecom",)).to_dict()
    assert data["missing"] == ["telecom"]
    assert data["epoch_iso"] == "2026-12-03T01:16:10Z" and data["epoch"] == 1796260570262
