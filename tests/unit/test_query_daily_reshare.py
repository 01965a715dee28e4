"""When a member's node re-shares its loan book: only a member that pushed before, on an earlier
UTC day or for another table layout; the store remembers the day and layout of the last push
both servers took."""

from __future__ import annotations

from pathlib import Path

from node.query.daily_reshare import reshare_due
from node.query.feeding import utc_day
from node.query.member_store import MemberStore


def test_a_member_that_never_pushed_is_not_reshared() -> None:
    assert not reshare_due(None, 20000)


def test_a_book_pushed_today_is_not_reshared() -> None:
    assert not reshare_due(20000, 20000)


def test_a_book_pushed_on_an_earlier_day_is_reshared() -> None:
    assert reshare_due(19999, 20000)


def test_utc_day_turns_at_midnight_utc() -> None:
    assert utc_day(86400 * 20000 - 1) == 19999 and utc_day(86400 * 20000) == 20000


def test_the_store_keeps_the_day_of_the_last_push(tmp_path: Path) -> None:
    store = MemberStore(tmp_path / "member")
    assert store.pushed_day() is None
    store.save_pushed(3, 20000)
    assert MemberStore(tmp_path / "member").pushed_day() == 20000


def test_a_book_pushed_today_for_another_layout_is_reshared() -> None:
    assert reshare_due(20000, 20000, "layout:old", "layout:new")
    assert not reshare_due(20000, 20000, "layout:new", "layout:new")


def test_the_store_keeps_the_layout_of_the_last_push(tmp_path: Path) -> None:
    store = MemberStore(tmp_path / "member")
    assert store.pushed_layout() is None
    store.save_pushed(3, 20000, "layout:abc")
    assert MemberStore(tmp_path / "member").pushed_layout() == "layout:abc"
