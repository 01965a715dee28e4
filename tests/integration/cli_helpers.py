"""Running the `alliance` command line in-process, as the CLI tests do."""

from __future__ import annotations

import shutil
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
