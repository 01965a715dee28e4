"""The embedded ledger ("devnet"): Fabric's Gateway API over one SQLite file, in one process.

start_devnet(net_dir) -> DevnetProcess     stop_devnet(net_dir) -> bool
devnet_status(net_dir) -> DevnetStatus     verify_ledger(net_dir) -> height
check_ledger(net_dir) -> LedgerSummary     repair_network(net_dir) -> RepairReport
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from network.devnet.launcher import (
    DevnetProcess,
    DevnetStatus,
    devnet_status,
    kill_devnet,
    start_devnet,
    stop_devnet,
)

if TYPE_CHECKING:
    from network.devnet.integrity import LedgerSummary
    from network.devnet.repair import RepairReport


def _ledger_file(net_dir: Path) -> Path:
    from network.devnet.server import ledger_path
    from network.errors import DevnetError

    path = ledger_path(net_dir)
    if not path.is_file():
        raise DevnetError(
            f"no devnet ledger at {path}; start devnet once with `alliance network up`"
        )
    return path


def verify_ledger(net_dir: Path) -> int:
    """Re-check NET's whole stored ledger (blocks, state commitments, world state); return its
    height. Safe while devnet runs (it reads a consistent SQLite snapshot). Raises
    LedgerIntegrityError when anything does not verify, DevnetError when there is no ledger."""
    return check_ledger(net_dir, replay=False).height


def check_ledger(net_dir: Path, *, replay: bool = True) -> LedgerSummary:
    """What `alliance audit chain` runs: `verify_ledger`'s checks, then (with `replay`) a replay
    of every block's write sets compared with the stored rows. Read-only; devnet may run."""
    from network.devnet.integrity import verify_database, verify_replay
    from network.devnet.store import connect_reader

    conn = connect_reader(_ledger_file(net_dir))
    try:
        summary = verify_database(conn)
        if replay:
            verify_replay(conn)
        return summary
    finally:
        conn.close()


def repair_network(net_dir: Path) -> RepairReport:
    """`alliance network repair`: rebuild NET's world state, history, tx index and events from
    its blocks. Refuses while devnet runs, and when the blocks themselves are corrupt."""
    from network.devnet.repair import repair_ledger
    from network.errors import DevnetError

    status = devnet_status(net_dir)
    if status.running:
        raise DevnetError(
            f"devnet for {net_dir} runs (pid {status.pid}); stop it with "
            "`alliance network down` before repairing its ledger"
        )
    return repair_ledger(_ledger_file(net_dir))


__all__ = [
    "DevnetProcess",
    "DevnetStatus",
    "check_ledger",
    "devnet_status",
    "kill_devnet",
    "repair_network",
    "start_devnet",
    "stop_devnet",
    "verify_ledger",
]
