"""Start, stop and inspect a member's node as a background process, by the pid it records.

`start_node` runs `python -m node --dir NET --as ORG` in its own session, logging to
NET/run/node-<org>.log, and returns its pid once the node has written NET/run/node-<org>.json
with that pid (its MPC server is then listening and its listener started). If it dies first,
the error carries the log's tail. `stop_node` sends SIGTERM to the recorded pid, only if that pid
still runs a node of that org, then SIGKILL after a timeout.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from node.daemon import read_run_file
from node.errors import NodeError
from node.paths import node_log_path, node_run_file

START_TIMEOUT = 30.0
_children: dict[int, subprocess.Popen[bytes]] = {}


class NodeStartError(NodeError):
    """A node process could not be started (already running, died while starting, too slow)."""


def _log_tail(net_dir: Path, org: str, lines: int = 30) -> str:
    try:
        text = node_log_path(net_dir, org).read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def _alive(pid: int) -> bool:
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


def _is_node_of(pid: int, org: str) -> bool:
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return _alive(pid)
    return b"node" in args and org.encode() in args


def _recorded_pid(net_dir: Path, org: str) -> int | None:
    data = read_run_file(net_dir, org)
    try:
        return int(data["pid"]) if data else None
    except (KeyError, TypeError, ValueError):
        return None


def node_status(net_dir: Path, org: str) -> dict[str, Any]:
    """{running, pid, port, log}: pid and port only while the recorded process runs."""
    net_dir = Path(net_dir).resolve()
    data = read_run_file(net_dir, org) or {}
    pid = _recorded_pid(net_dir, org)
    running = pid is not None and _alive(pid) and _is_node_of(pid, org)
    return {
        "org": org,
        "running": running,
        "pid": pid if running else None,
        "port": data.get("port") if running else None,
        "log": str(node_log_path(net_dir, org)),
    }


def _spawn(
    net_dir: Path, org: str, env: dict[str, str] | None, extra_args: list[str] | None
) -> subprocess.Popen[bytes]:
    status = node_status(net_dir, org)
    if status["running"]:
        raise NodeStartError(
            f"the node of {org} already runs (pid {status['pid']}, port {status['port']}); "
            f"stop it first with `alliance network down --dir {net_dir}`"
        )
    log_path = node_log_path(net_dir, org)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "node", "--dir", str(net_dir), "--as", org, *(extra_args or [])]
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, env={**os.environ, **(env or {})},
        )
    _children[proc.pid] = proc
    return proc


def _wait_ready(net_dir: Path, org: str, proc: subprocess.Popen[bytes], deadline: float) -> int:
    log_path = node_log_path(net_dir, org)
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            _children.pop(proc.pid, None)
            raise NodeStartError(
                f"the node of {org} exited with code {proc.returncode} while starting; last "
                f"lines of {log_path}:\n{_log_tail(net_dir, org)}"
            )
        if _recorded_pid(net_dir, org) == proc.pid:
            return proc.pid
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    _children.pop(proc.pid, None)
    raise NodeStartError(
        f"the node of {org} did not become ready in time; last lines of {log_path}:\n"
        f"{_log_tail(net_dir, org)}"
    )


def start_node(
    net_dir: Path, org: str, *, timeout: float = START_TIMEOUT, env: dict[str, str] | None = None,
    extra_args: list[str] | None = None,
) -> int:
    """Start org's node in the background; its pid once it is ready. Refuses a second one."""
    net_dir = Path(net_dir).resolve()
    proc = _spawn(net_dir, org, env, extra_args)
    return _wait_ready(net_dir, org, proc, time.monotonic() + timeout)


def start_nodes(
    net_dir: Path, orgs: list[str], *, timeout: float = START_TIMEOUT,
    env: dict[str, str] | None = None, extra_args: list[str] | None = None,
) -> dict[str, int]:
    """Start several orgs' nodes side by side; {org: pid} once all are ready. If one fails,
    the ones started here are stopped and the error is raised."""
    net_dir = Path(net_dir).resolve()
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for org in orgs:
            procs[org] = _spawn(net_dir, org, env, extra_args)
        deadline = time.monotonic() + timeout
        return {org: _wait_ready(net_dir, org, proc, deadline) for org, proc in procs.items()}
    except BaseException:
        for org, proc in procs.items():
            if proc.poll() is None:
                stop_node(net_dir, org) or proc.kill()
        raise


def _wait_gone(pid: int, timeout: float) -> bool:
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
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return not _alive(pid)


def stop_node(net_dir: Path, org: str, timeout: float = 10.0) -> bool:
    """Stop org's recorded node: SIGTERM, then SIGKILL after `timeout`. False if none ran.

    The run file stays (with its port) so that a restarted node comes back on the same port."""
    net_dir = Path(net_dir).resolve()
    pid = _recorded_pid(net_dir, org)
    if pid is None or not (_alive(pid) and _is_node_of(pid, org)):
        return False
    os.kill(pid, signal.SIGTERM)
    if not _wait_gone(pid, timeout):
        os.kill(pid, signal.SIGKILL)
        _wait_gone(pid, 5.0)
    return True


def kill_node(net_dir: Path, org: str) -> int | None:
    """SIGKILL org's node at once (crash tests). The pid killed, or None."""
    net_dir = Path(net_dir).resolve()
    pid = _recorded_pid(net_dir, org)
    if pid is None or not (_alive(pid) and _is_node_of(pid, org)):
        return None
    os.kill(pid, signal.SIGKILL)
    _wait_gone(pid, 5.0)
    return pid


def run_file(net_dir: Path, org: str) -> Path:
    return node_run_file(net_dir, org)
