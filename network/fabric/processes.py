"""Background processes of a Fabric network: started detached, recorded by pid, stopped by pid.

`processes.json` maps a name (orderer0, peer0.bank, chaincode.bank) to its pid, the program it
runs and its log. A pid is only signalled while /proc says it still runs that program, so a
recycled pid is never killed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from network.fabric.errors import FabricError
from network.fabric.layout import FabricLayout, read_json, write_json

_children: dict[int, subprocess.Popen[bytes]] = {}


@dataclass(frozen=True)
class Process:
    name: str
    pid: int
    program: str
    log: Path


def _records(layout: FabricLayout) -> dict[str, dict]:
    return read_json(layout.processes_file, {})


def recorded(layout: FabricLayout) -> dict[str, Process]:
    return {
        name: Process(name, int(r["pid"]), r["program"], Path(r["log"]))
        for name, r in _records(layout).items()
    }


def is_running(process: Process) -> bool:
    child = _children.get(process.pid)
    if child is not None:
        return child.poll() is None
    try:
        stat = Path(f"/proc/{process.pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] in ("Z", "X"):
            return False
        cmdline = Path(f"/proc/{process.pid}/cmdline").read_bytes()
    except (OSError, IndexError):
        return False
    return process.program.encode() in cmdline


def spawn(
    layout: FabricLayout, name: str, command: list[str], env: dict[str, str], program: str
) -> Process:
    """Start `command` detached (own session), output appended to logs/<name>.log."""
    layout.logs.mkdir(parents=True, exist_ok=True)
    log = layout.logs / f"{name}.log"
    with open(log, "ab") as out:
        try:
            child = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=env,
            )
        except OSError as exc:
            raise FabricError(f"cannot start {name} ({command[0]}): {exc}") from exc
    _children[child.pid] = child
    records = _records(layout)
    records[name] = {"pid": child.pid, "program": program, "log": str(log), "command": command}
    write_json(layout.processes_file, records)
    return Process(name, child.pid, program, log)


def exited(process: Process) -> int | None:
    """The exit code of a child we started, if it has exited."""
    child = _children.get(process.pid)
    return None if child is None else child.poll()


def _wait_gone(process: Process, timeout: float) -> bool:
    child = _children.get(process.pid)
    if child is not None:
        try:
            child.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        _children.pop(process.pid, None)
        return True
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not is_running(process):
            return True
        time.sleep(0.05)
    return not is_running(process)


def stop(layout: FabricLayout, name: str, timeout: float = 10.0) -> bool:
    """SIGTERM the recorded process `name`, SIGKILL after `timeout`. False if it was not running."""
    records = _records(layout)
    record = recorded(layout).get(name)
    was_running = False
    if record is not None and is_running(record):
        was_running = True
        with contextlib.suppress(ProcessLookupError):
            os.kill(record.pid, signal.SIGTERM)
        if not _wait_gone(record, timeout):
            with contextlib.suppress(ProcessLookupError):
                os.kill(record.pid, signal.SIGKILL)
            _wait_gone(record, 5.0)
    records.pop(name, None)
    write_json(layout.processes_file, records)
    return was_running


def log_tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
