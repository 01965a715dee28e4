"""Start, stop and inspect devnet as a background process, by the pid it records.

`start_devnet` runs `python -m network.devnet` detached (its own session, logging to
NET/run/devnet.log) and returns once NET/run/devnet.json names its pid and the port answers;
if it dies first, the error carries the log's tail. `stop_devnet` sends SIGTERM to the recorded
pid (only if that pid still runs devnet), then SIGKILL after a timeout.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from network.devnet.server import DEFAULT_BATCH_SIZE, DEFAULT_BATCH_TIMEOUT_MS, run_file
from network.errors import DevnetError

LOG_FILE = "devnet.log"
START_TIMEOUT = 30.0
_children: dict[int, subprocess.Popen[bytes]] = {}


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


def _log_tail(net_dir: Path, lines: int = 30) -> str:
    try:
        text = log_file(net_dir).read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def _read_run_file(net_dir: Path) -> tuple[int, int] | None:
    try:
        data = json.loads(run_file(net_dir).read_text())
        return int(data["pid"]), int(data["port"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


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


def _is_devnet(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return _alive(pid)  # no /proc: trust the run file
    return b"network.devnet" in cmdline


def _answers(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


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
    """Start devnet for NET in the background and wait until it serves; refuse a second one."""
    net_dir = Path(net_dir).resolve()
    status = devnet_status(net_dir)
    if status.running:
        raise DevnetError(
            f"devnet for {net_dir} already runs (pid {status.pid}, port {status.port}); "
            "stop it first with `alliance network down`"
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
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **(env or {})},
        )
    _children[proc.pid] = proc
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            _children.pop(proc.pid, None)
            raise DevnetError(
                f"devnet exited with code {proc.returncode} while starting; "
                f"last lines of {log_path}:\n{_log_tail(net_dir)}"
            )
        recorded = _read_run_file(net_dir)
        if recorded is not None and recorded[0] == proc.pid and _answers(recorded[1]):
            return DevnetProcess(pid=proc.pid, port=recorded[1])
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    _children.pop(proc.pid, None)
    raise DevnetError(
        f"devnet did not become ready within {timeout:.0f} s; last lines of {log_path}:\n"
        f"{_log_tail(net_dir)}"
    )


def devnet_status(net_dir: Path) -> DevnetStatus:
    recorded = _read_run_file(net_dir)
    if recorded is None:
        return DevnetStatus(False, None, None, log_file(net_dir))
    pid, port = recorded
    running = _alive(pid) and _is_devnet(pid)
    return DevnetStatus(
        running, pid if running else None, port if running else None, log_file(net_dir)
    )


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


def stop_devnet(net_dir: Path, timeout: float = 10.0) -> bool:
    """Stop NET's recorded devnet: SIGTERM, then SIGKILL after `timeout`. False if none ran."""
    recorded = _read_run_file(net_dir)
    if recorded is None:
        return False
    pid, _ = recorded
    if not (_alive(pid) and _is_devnet(pid)):
        run_file(net_dir).unlink(missing_ok=True)
        return False
    os.kill(pid, signal.SIGTERM)
    if not _wait_gone(pid, timeout):
        os.kill(pid, signal.SIGKILL)
        _wait_gone(pid, 5.0)
    run_file(net_dir).unlink(missing_ok=True)
    return True


def kill_devnet(net_dir: Path) -> int | None:
    """SIGKILL the recorded devnet at once (crash tests). Returns the pid killed, or None."""
    recorded = _read_run_file(net_dir)
    if recorded is None or not _alive(recorded[0]) or not _is_devnet(recorded[0]):
        return None
    os.kill(recorded[0], signal.SIGKILL)
    _wait_gone(recorded[0], 5.0)
    return recorded[0]
