"""Running the `alliance` command line in-process, as the CLI tests do."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from alliance.cli import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of one command; earlier captured output is dropped."""
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def private_network(network_dir: Path, target: Path) -> Path:
    """A copy of the session's test network (identities, charter, profile), never started, with
    a devnet port of its own (a copy is another network: both may run at once)."""
    from alliance.network_init import free_loopback_port
    from alliance.profile import load_profile, save_profile

    shutil.copytree(network_dir, target, ignore=shutil.ignore_patterns("run", "*.sqlite*"))
    profile = load_profile(target)
    profile.devnet.port = free_loopback_port()
    save_profile(target, profile)
    return target
