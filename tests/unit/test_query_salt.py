"""The applicant-hash salt files: server A's, created once (adopting NET's legacy file), and a
member's copy, fetched once and never written from a failed or malformed fetch."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from node.query.errors import ServerUnavailable
from node.query.salt import (
    LEGACY_FILE,
    SALT_BYTES,
    SaltError,
    member_salt,
    member_salt_path,
    server_salt,
)


def test_server_a_creates_its_salt_once_and_keeps_it(tmp_path: Path) -> None:
    first = server_salt(tmp_path / "server")
    assert len(first) == SALT_BYTES
    assert server_salt(tmp_path / "server") == first
    assert stat.S_IMODE((tmp_path / "server" / "salt.bin").stat().st_mode) == 0o600


def test_server_a_adopts_nets_legacy_salt(tmp_path: Path) -> None:
    legacy = b"\x42" * SALT_BYTES
    (tmp_path / LEGACY_FILE).write_bytes(legacy)
    assert server_salt(tmp_path / "server", tmp_path) == legacy


def test_two_servers_folders_get_different_salts(tmp_path: Path) -> None:
    assert server_salt(tmp_path / "one") != server_salt(tmp_path / "two")


def test_a_member_fetches_once_then_reads_its_copy(tmp_path: Path) -> None:
    calls: list[int] = []

    def fetch() -> bytes:
        calls.append(1)
        return b"\x01" * SALT_BYTES

    assert member_salt(tmp_path, "bank", fetch) == b"\x01" * SALT_BYTES
    assert member_salt(tmp_path, "bank", fetch) == b"\x01" * SALT_BYTES
    assert calls == [1]
    assert stat.S_IMODE(member_salt_path(tmp_path, "bank").stat().st_mode) == 0o600


def test_another_server_a_means_another_copy(tmp_path: Path) -> None:
    member_salt(tmp_path, "bank", lambda: b"\x01" * SALT_BYTES)
    assert member_salt(tmp_path, "telecom", lambda: b"\x02" * SALT_BYTES) == b"\x02" * SALT_BYTES


def test_a_failed_fetch_writes_nothing(tmp_path: Path) -> None:
    def down() -> bytes:
        raise ServerUnavailable("query server bank did not answer")

    with pytest.raises(ServerUnavailable):
        member_salt(tmp_path, "bank", down)
    assert list(tmp_path.iterdir()) == []


def test_a_short_salt_from_the_server_is_refused_and_not_kept(tmp_path: Path) -> None:
    with pytest.raises(SaltError, match="not a 32-byte salt"):
        member_salt(tmp_path, "bank", lambda: b"\x01" * 8)
    assert list(tmp_path.iterdir()) == []


def test_a_damaged_copy_says_how_to_recover(tmp_path: Path) -> None:
    member_salt_path(tmp_path, "bank").write_bytes(b"\x01" * 5)
    with pytest.raises(SaltError, match="delete it to fetch the salt again"):
        member_salt(tmp_path, "bank", lambda: b"\x01" * SALT_BYTES)
