"""Background processes started by the launchers (devnet, Fabric, nodes): detached, logged,
recorded by pid, and signalled only while the pid still runs the program we started.

Children started here are tracked so that their exit is reaped (no zombies) and seen at once.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

_children: dict[int, subprocess.Popen[bytes]] = {}


def spawn_detached(
    command: list[str], log_path: Path, env: Mapping[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start `command` in its own session, stdout and stderr appended to `log_path`."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        child = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=dict(env) if env is not None else None,
        )
    _children[child.pid] = child
    return child


def exit_code(pid: int) -> int | None:
    """The exit code of a child started here, once it has exited; None otherwise."""
    child = _children.get(pid)
    return None if child is None else child.poll()


def is_alive(pid: int) -> bool:
    """True while `pid` runs (a zombie does not count)."""
    child = _children.get(pid)
    if child is not None:
        return child.poll() is None
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except (OSError, IndexError):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


def runs_program(pid: int, *args: str) -> bool:
    """True while `pid` runs with every one of `args` in its command line (a recycled pid
    running something else fails)."""
    if not is_alive(pid):
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return True  # no /proc: trust the record
    return all(arg.encode() in cmdline for arg in args)


def wait_gone(pid: int, timeout: float) -> bool:
    """Wait until `pid` has exited; False if it still runs after `timeout` seconds."""
    child = _children.get(pid)
    if child is not None:
        try:
            child.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        _children.pop(pid, None)
        return True
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not is_alive(pid):
            return True
        time.sleep(0.05)
    return not is_alive(pid)


def terminate(pid: int, timeout: float = 10.0) -> None:
    """SIGTERM, then SIGKILL if `pid` is still there after `timeout` seconds."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if not wait_gone(pid, timeout):
        kill_now(pid)


def kill_now(pid: int) -> None:
    """SIGKILL and reap."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    wait_gone(pid, 5.0)


def forget(pid: int) -> None:
    _children.pop(pid, None)


def log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def kill_all_started() -> list[int]:
    """SIGKILL every child started here that still runs (last resort when a start was cut off
    before the child recorded itself); their pids."""
    killed = []
    for pid, child in list(_children.items()):
        if child.poll() is None:
            kill_now(pid)
            killed.append(pid)
    return killed
