"""Start, stop and inspect a query server process (`python -m node.query`) by its recorded pid,
as node/launcher.py does for nodes: ready once it has written NET/run/query-<org>.json with its
pid; stopped by SIGTERM to that pid only if it still runs a query server of that org."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

from network.processes import forget, kill_now, log_tail, runs_program, spawn_detached, terminate
from node.query.errors import QueryError
from node.query.service import query_log_path, read_query_run_file

START_TIMEOUT = 60.0


def _pid(net_dir: Path, org: str) -> int | None:
    data = read_query_run_file(net_dir, org)
    try:
        pid = int(data["pid"]) if data else None
    except (KeyError, TypeError, ValueError):
        return None
    return pid if pid is not None and runs_program(pid, "node.query", org) else None


def query_server_status(net_dir: Path, org: str) -> dict[str, Any]:
    net_dir = Path(net_dir).resolve()
    data = read_query_run_file(net_dir, org) or {}
    pid = _pid(net_dir, org)
    return {"org": org, "running": pid is not None, "pid": pid,
            "port": data.get("port") if pid else None, "role": data.get("role"),
            "log": str(query_log_path(net_dir, org))}


def start_query_servers(net_dir: Path, orgs: list[str], *, timeout: float = START_TIMEOUT,
                        env: dict[str, str] | None = None) -> dict[str, int]:
    """Start the query servers of `orgs` side by side; {org: pid} once each is ready."""
    net_dir = Path(net_dir).resolve()
    procs = {}
    try:
        for org in orgs:
            if _pid(net_dir, org) is not None:
                continue
            log_path = query_log_path(net_dir, org)
            cmd = [sys.executable, "-m", "node.query", "--dir", str(net_dir), "--as", org]
            procs[org] = spawn_detached(cmd, log_path, {**os.environ, **(env or {})})
        deadline = time.monotonic() + timeout
        ready: dict[str, int] = {}
        for org, proc in procs.items():
            while True:
                if proc.poll() is not None:
                    forget(proc.pid)
                    raise QueryError(
                        f"the query server of {org} exited with code {proc.returncode} while "
                        f"starting; last lines of {query_log_path(net_dir, org)}:\n"
                        f"{log_tail(query_log_path(net_dir, org))}")
                data = read_query_run_file(net_dir, org)
                if data and data.get("pid") == proc.pid:
                    ready[org] = proc.pid
                    break
                if time.monotonic() > deadline:
                    raise QueryError(f"the query server of {org} did not become ready in time; "
                                     f"see {query_log_path(net_dir, org)}")
                time.sleep(0.05)
        return ready
    except BaseException:
        for proc in procs.values():
            if proc.poll() is None:
                kill_now(proc.pid)
        raise


def stop_query_server(net_dir: Path, org: str, timeout: float = 10.0) -> bool:
    pid = _pid(Path(net_dir).resolve(), org)
    if pid is None:
        return False
    terminate(pid, timeout)
    return True


def kill_query_server(net_dir: Path, org: str) -> int | None:
    """SIGKILL at once (crash tests); the pid killed or None."""
    pid = _pid(Path(net_dir).resolve(), org)
    if pid is not None:
        kill_now(pid)
    return pid
