"""Running the `alliance` command line in-process, as the CLI tests do."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


QUERY_TEST_ENV = ("ALLIANCE_QUERY_EPOCH_SECONDS", "ALLIANCE_QUERY_COMMIT_SECONDS",
                  "ALLIANCE_QUERY_PARTIAL_PERIODS", "ALLIANCE_QUERY_RESHARE_POLL")
"""Set to 1 for the query tests: a table, a summary and a re-share check every second."""


@contextlib.contextmanager
def query_network_up(network_dir: Path, target: Path) -> Iterator[Path]:
    """A private copy of `network_dir` up on devnet (50-ms blocks), its query servers and nodes
    on QUERY_TEST_ENV's intervals; down afterwards."""
    mp = pytest.MonkeyPatch()
    for name in QUERY_TEST_ENV:
        mp.setenv(name, "1")
    private_network(network_dir, target)
    try:
        assert main(["network", "up", "--dir", str(target), "--batch-timeout-ms", "50"]) == 0
        yield target
    finally:
        main(["network", "down", "--dir", str(target)])
        mp.undo()


def demo_summary(net: Path, *args: str, timeout: float = 300) -> dict[str, Any]:
    """`alliance demo --dir NET --json ARGS` in a process of its own, as a user runs it: its
    summary, once it exited 0 with every step shown done."""
    import json
    import os
    import subprocess
    import sys

    from alliance.keystore import PASSPHRASE_ENV

    done = subprocess.run(
        [sys.executable, "-m", "alliance.cli.main", "demo", "--dir", str(net), "--json", *args],
        capture_output=True, text=True, timeout=timeout,
        env={**os.environ, PASSPHRASE_ENV: "demo-test"},
    )
    assert done.returncode == 0, done.stderr + done.stdout
    summary: dict[str, Any] = json.loads(done.stdout)
    assert all(step["ok"] for step in summary["steps"]), summary["steps"]
    return summary
