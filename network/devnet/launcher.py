"""Start, stop and inspect devnet as a background process, by the pid it records.

`start_devnet` runs `python -m network.devnet` detached (its own session, logging to
NET/run/devnet.log) and returns once NET/run/devnet.json names its pid and the port answers;
if it dies first, the error carries the log's tail. `stop_devnet` sends SIGTERM to the recorded
pid (only if that pid still runs devnet), then SIGKILL after a timeout.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from network.devnet.server import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_BATCH_TIMEOUT_MS,
    ledger_path,
    run_file,
)
from network.errors import DevnetError
from network.processes import (
    forget,
    kill_now,
    log_tail,
    runs_program,
    spawn_detached,
    terminate,
)

LOG_FILE = "devnet.log"
START_TIMEOUT = 30.0
VERIFY_BYTES_PER_SECOND = 50 * 2**20
"""A slow machine's rate for devnet's start-up check (it reads every block): the wait for a
ledger of S bytes is START_TIMEOUT + S / this (see bench/ledger_integrity.py)."""


@dataclass(frozen=True)
class DevnetProcess:
    pid: int
    port: int
    host: str = "127.0.0.1"

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class DevnetStatus:
    running: bool
    pid: int | None
    port: int | None
    log_file: Path


def log_file(net_dir: Path) -> Path:
    return Path(net_dir) / "run" / LOG_FILE


def _read_run_file(net_dir: Path) -> tuple[int, int] | None:
    try:
        data = json.loads(run_file(net_dir).read_text())
        return int(data["pid"]), int(data["port"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _is_devnet(pid: int) -> bool:
    return runs_program(pid, "network.devnet")


def _answers(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """True when nothing listens on host:port (a port in TIME_WAIT counts as free, as devnet's
    gRPC server reuses it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def start_devnet(
    net_dir: Path,
    port: int = 0,
    batch_size: int = DEFAULT_BATCH_SIZE,
    batch_timeout_ms: int = DEFAULT_BATCH_TIMEOUT_MS,
    *,
    router: str = "",
    timeout: float = START_TIMEOUT,
    env: dict[str, str] | None = None,
) -> DevnetProcess:
    """Start devnet for NET in the background and wait until it serves; refuse a second one.

    The wait grows with the ledger: devnet verifies it before it serves."""
    net_dir = Path(net_dir).resolve()
    ledger = ledger_path(net_dir)
    timeout += (ledger.stat().st_size if ledger.is_file() else 0) / VERIFY_BYTES_PER_SECOND
    status = devnet_status(net_dir)
    if status.running:
        raise DevnetError(
            f"devnet for {net_dir} already runs (pid {status.pid}, port {status.port}); "
            "stop it first with `alliance network down`"
        )
    if port and not port_is_free(port):
        raise DevnetError(
            f"port {port} on 127.0.0.1, where devnet of {net_dir} should serve, is taken by "
            "another program; stop that program or choose another port for devnet"
        )
    run_file(net_dir).unlink(missing_ok=True)
    log_path = log_file(net_dir)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable,
        "-m",
        "network.devnet",
        "--dir",
        str(net_dir),
        "--port",
        str(port),
        "--batch-size",
        str(batch_size),
        "--batch-timeout-ms",
        str(batch_timeout_ms),
    ]
    if router:
        cmd += ["--router", router]
    proc = spawn_detached(cmd, log_path, {**os.environ, **(env or {})})
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            forget(proc.pid)
            raise DevnetError(
                f"devnet exited with code {proc.returncode} while starting; "
                f"last lines of {log_path}:\n{log_tail(log_path)}"
            )
        recorded = _read_run_file(net_dir)
        if recorded is not None and recorded[0] == proc.pid and _answers(recorded[1]):
            return DevnetProcess(pid=proc.pid, port=recorded[1])
        time.sleep(0.05)
    kill_now(proc.pid)
    raise DevnetError(
        f"devnet did not become ready within {timeout:.0f} s; last lines of {log_path}:\n"
        f"{log_tail(log_path)}"
    )


def devnet_status(net_dir: Path) -> DevnetStatus:
    recorded = _read_run_file(net_dir)
    if recorded is None:
        return DevnetStatus(False, None, None, log_file(net_dir))
    pid, port = recorded
    running = _is_devnet(pid)
    return DevnetStatus(
        running, pid if running else None, port if running else None, log_file(net_dir)
    )


def stop_devnet(net_dir: Path, timeout: float = 10.0) -> bool:
    """Stop NET's recorded devnet: SIGTERM, then SIGKILL after `timeout`. False if none ran."""
    recorded = _read_run_file(net_dir)
    if recorded is None:
        return False
    pid, _ = recorded
    if not _is_devnet(pid):
        run_file(net_dir).unlink(missing_ok=True)
        return False
    terminate(pid, timeout)
    run_file(net_dir).unlink(missing_ok=True)
    return True


def kill_devnet(net_dir: Path) -> int | None:
    """SIGKILL the recorded devnet at once (crash tests). Returns the pid killed, or None."""
    recorded = _read_run_file(net_dir)
    if recorded is None or not _is_devnet(recorded[0]):
        return None
    kill_now(recorded[0])
    return recorded[0]
