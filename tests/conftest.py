"""Shared fixtures: one generated alliance for the whole test session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from alliance.keystore import PASSPHRASE_ENV
from alliance.network_init import init_network

TEST_PASSPHRASE = b"test-passphrase"


def _network(tmp_path_factory: pytest.TempPathFactory, name: str,
             members: list[str]) -> Iterator[Path]:
    """`members` and regulator (auditor) in a network made once, the passphrase set meanwhile."""
    previous = os.environ.get(PASSPHRASE_ENV)
    os.environ[PASSPHRASE_ENV] = TEST_PASSPHRASE.decode()
    net_dir = tmp_path_factory.mktemp(name)
    init_network(net_dir, members=members, auditors=["regulator"], passphrase=TEST_PASSPHRASE)
    yield net_dir
    if previous is None:
        os.environ.pop(PASSPHRASE_ENV, None)
    else:
        os.environ[PASSPHRASE_ENV] = previous


@pytest.fixture(scope="session")
def network_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A network of bank, telecom, platform (members) and regulator (auditor), made once."""
    yield from _network(tmp_path_factory, "net", ["bank", "telecom", "platform"])


@pytest.fixture(scope="session")
def query_network_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A network for the query service: bank and telecom run its servers (so they may not ask),
    platform and insurer ask; regulator is an auditor."""
    yield from _network(tmp_path_factory, "querynet", ["bank", "telecom", "platform", "insurer"])


@pytest.fixture
def passphrase() -> bytes:
    return TEST_PASSPHRASE
