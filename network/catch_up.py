"""Read your own writes across orgs on Fabric.

Each org reads through its own peer, and Fabric's peers commit a block at slightly different
moments: right after bank's transaction committed (bank's peer told us so), telecom's peer may
still be a block behind and answer "no such job". A client that acted as one org and then reads
as another waits until the reading org's peer has every block this NET has seen committed.

The high-water mark is kept per NET in `NET/run/commit-height` (the highest committed block
number seen by any front end on this machine, plus one), so a CLI call as telecom right after a
CLI call as bank waits as well. Devnet has one ledger for every org and needs none of this.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

from network.errors import NetworkError

if TYPE_CHECKING:
    from network.gateway.gateway import Gateway
    from network.gateway.network import Network

HEIGHT_FILE = "commit-height"
POLL_SECONDS = 0.05
STATE_SETTLE_SECONDS = 0.1
"""A Fabric peer adds a block to its block store (and its height) a moment before it applies the
block's writes to the world state; blocks commit one after another, so only the newest one can
still be settling."""


def _height_file(net_dir: Path) -> Path:
    return Path(net_dir) / "run" / HEIGHT_FILE


def committed_height(net_dir: Path) -> int:
    """The chain height every peer of NET must reach before an org reads (0 when unknown)."""
    try:
        return int(_height_file(net_dir).read_text().strip() or 0)
    except (FileNotFoundError, ValueError):
        return 0


def note_commit(net_dir: Path, block_number: int) -> None:
    """Remember that block `block_number` committed (the mark only ever grows)."""
    height = block_number + 1
    if height <= committed_height(net_dir):
        return
    path = _height_file(net_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    temporary.write_text(f"{height}\n")
    os.replace(temporary, path)


def wait_for_height(
    network: Network, height: int, timeout: float = 15.0, *, settle: bool = True
) -> int:
    """Wait until the peer behind `network` has `height` blocks; its height then. With `settle`,
    a peer whose newest block is the one waited for gets a moment to apply its writes.

    Raises NetworkError naming both heights when it does not get there within `timeout`."""
    from network.audit import chain_info

    deadline = time.monotonic() + timeout
    while True:
        current = chain_info(network).height
        if current >= height:
            if settle and current == height:
                time.sleep(STATE_SETTLE_SECONDS)
            return current
        if time.monotonic() >= deadline:
            raise NetworkError(
                f"the peer has {current} blocks, {height - current} fewer than this NET has seen "
                f"committed, after {timeout:.0f} s; check it with `alliance network status`"
            )
        time.sleep(POLL_SECONDS)


def wait_for_every_peer(
    net_dir: Path, gateway: Gateway, channel: str, height: int, *, skip: str = ""
) -> None:
    """Wait until every Fabric peer of NET has `height` blocks: a transaction is endorsed by
    other orgs' peers too, and one a block behind would refuse it ("no such job").

    Asks each peer's chain height through that peer's own Gateway, as `gateway`'s identity (a
    channel reader may read any peer's chain information); `skip` names an org already waited
    for."""
    from network.fabric.launcher import gateway_endpoint, recorded_peer_orgs
    from network.gateway.gateway import connect

    for org in recorded_peer_orgs(net_dir):
        if org == skip:
            continue
        host, port, roots = gateway_endpoint(net_dir, org)
        with connect(
            f"{host}:{port}", identity=gateway.identity, signer=gateway.signer,
            tls_root_certs=roots,
        ) as peer:
            # no settling: an endorser still applying the block gives a result that does not
            # match the others', which the Gateway client retries (network.gateway.retry)
            wait_for_height(peer.get_network(channel), height, settle=False)
