"""Start, stop and inspect a member's node as a background process, by the pid it records.

`start_node` runs `python -m node --dir NET --as ORG` in its own session, logging to
NET/run/node-<org>.log, and returns its pid once the node has written NET/run/node-<org>.json
with that pid (its MPC server is then listening and its listener started). If it dies first,
the error carries the log's tail. `stop_node` sends SIGTERM to the recorded pid, only if that pid
still runs a node of that org, then SIGKILL after a timeout.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from network.processes import (
    forget,
    kill_now,
    log_tail,
    runs_program,
    spawn_detached,
    terminate,
    wait_gone,
)
from node.daemon import read_run_file
from node.errors import NodeStartError
from node.paths import node_log_path, node_run_file

START_TIMEOUT = 30.0


def _is_node_of(pid: int, org: str) -> bool:
    return runs_program(pid, "node", org)


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
    running = pid is not None and _is_node_of(pid, org)
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
            f"restart it with `alliance --dir {net_dir} --as {org} node restart`"
        )
    log_path = node_log_path(net_dir, org)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "node", "--dir", str(net_dir), "--as", org, *(extra_args or [])]
    return spawn_detached(cmd, log_path, {**os.environ, **(env or {})})


def _wait_ready(net_dir: Path, org: str, proc: subprocess.Popen[bytes], deadline: float) -> int:
    log_path = node_log_path(net_dir, org)
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            forget(proc.pid)
            raise NodeStartError(
                f"the node of {org} exited with code {proc.returncode} while starting; last "
                f"lines of {log_path}:\n{log_tail(log_path)}"
            )
        if _recorded_pid(net_dir, org) == proc.pid:
            return proc.pid
        time.sleep(0.05)
    kill_now(proc.pid)
    raise NodeStartError(
        f"the node of {org} did not become ready in time; last lines of {log_path}:\n"
        f"{log_tail(log_path)}"
    )


def start_node(
    net_dir: Path,
    org: str,
    *,
    timeout: float = START_TIMEOUT,
    env: dict[str, str] | None = None,
    extra_args: list[str] | None = None,
) -> int:
    """Start org's node in the background; its pid once it is ready. Refuses a second one."""
    net_dir = Path(net_dir).resolve()
    proc = _spawn(net_dir, org, env, extra_args)
    return _wait_ready(net_dir, org, proc, time.monotonic() + timeout)


def start_nodes(
    net_dir: Path,
    orgs: list[str],
    *,
    timeout: float = START_TIMEOUT,
    env: dict[str, str] | None = None,
    extra_args: list[str] | None = None,
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


def stop_node(
    net_dir: Path, org: str, timeout: float = 10.0, drain: float | None = None
) -> bool:
    """Stop org's recorded node: SIGTERM, then SIGKILL after `timeout`. False if none ran.

    With `drain` seconds, SIGUSR1 first: the node starts no new job and lets the runs in
    progress finish (up to its job deadline) before it stops; SIGTERM only if it is still
    there after `drain` + `timeout` seconds.

    The run file stays (with its port) so that a restarted node comes back on the same port."""
    net_dir = Path(net_dir).resolve()
    pid = _recorded_pid(net_dir, org)
    if pid is None or not _is_node_of(pid, org):
        return False
    if drain is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGUSR1)
        if wait_gone(pid, drain + timeout):
            return True
    terminate(pid, timeout)
    return True


def kill_node(net_dir: Path, org: str) -> int | None:
    """SIGKILL org's node at once (crash tests). The pid killed, or None."""
    net_dir = Path(net_dir).resolve()
    pid = _recorded_pid(net_dir, org)
    if pid is None or not _is_node_of(pid, org):
        return None
    kill_now(pid)
    return pid


def run_file(net_dir: Path, org: str) -> Path:
    return node_run_file(net_dir, org)
