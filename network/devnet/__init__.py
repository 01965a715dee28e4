"""The embedded ledger ("devnet"): Fabric's Gateway API over one SQLite file, in one process.

start_devnet(net_dir) -> DevnetProcess     stop_devnet(net_dir) -> bool
devnet_status(net_dir) -> DevnetStatus     verify_ledger(net_dir) -> height
"""

from pathlib import Path

from network.devnet.launcher import (
    DevnetProcess,
    DevnetStatus,
    devnet_status,
    kill_devnet,
    start_devnet,
    stop_devnet,
)


def verify_ledger(net_dir: Path) -> int:
    """Re-check NET's whole stored chain (hashes, links, tx index); return its height.

    Safe while devnet runs (it reads a consistent SQLite snapshot). Raises
    LedgerIntegrityError when anything does not verify, DevnetError when there is no ledger."""
    from network.devnet.server import ledger_path
    from network.devnet.store import LedgerStore
    from network.errors import DevnetError

    path = ledger_path(net_dir)
    if not path.is_file():
        raise DevnetError(
            f"no devnet ledger at {path}; start devnet once with `alliance network up`"
        )
    store = LedgerStore(path)
    try:
        return store.verify_chain(full=True)
    finally:
        store.close()


__all__ = [
    "DevnetProcess",
    "DevnetStatus",
    "devnet_status",
    "kill_devnet",
    "start_devnet",
    "stop_devnet",
    "verify_ledger",
]
