"""Background processes of a Fabric network: started detached, recorded by pid, stopped by pid.

`processes.json` maps a name (orderer0, peer0.bank, chaincode.bank) to its pid, the program it
runs and its log. A pid is only signalled while /proc says it still runs that program, so a
recycled pid is never killed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from network.fabric.errors import FabricError
from network.fabric.layout import FabricLayout, read_json, write_json
from network.processes import exit_code, log_tail, runs_program, spawn_detached, terminate

__all__ = ["Process", "exited", "is_running", "log_tail", "recorded", "spawn", "stop"]


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
    return runs_program(process.pid, process.program)


def spawn(
    layout: FabricLayout, name: str, command: list[str], env: dict[str, str], program: str
) -> Process:
    """Start `command` detached (own session), output appended to logs/<name>.log."""
    log = layout.logs / f"{name}.log"
    try:
        child = spawn_detached(command, log, env)
    except OSError as exc:
        raise FabricError(f"cannot start {name} ({command[0]}): {exc}") from exc
    records = _records(layout)
    records[name] = {"pid": child.pid, "program": program, "log": str(log), "command": command}
    write_json(layout.processes_file, records)
    return Process(name, child.pid, program, log)


def exited(process: Process) -> int | None:
    """The exit code of a child we started, if it has exited."""
    return exit_code(process.pid)


def stop(layout: FabricLayout, name: str, timeout: float = 10.0) -> bool:
    """SIGTERM the recorded process `name`, SIGKILL after `timeout`. False if it was not running."""
    records = _records(layout)
    record = recorded(layout).get(name)
    was_running = False
    if record is not None and is_running(record):
        was_running = True
        terminate(record.pid, timeout)
    records.pop(name, None)
    write_json(layout.processes_file, records)
    return was_running
