"""Devnet as a running process: the ledger, the Gateway service on TLS, and its run file.

`serve(config)` opens the ledger under NET/devnet/, serves Fabric's Gateway and Deliver services
on 127.0.0.1:<port> (a free port when 0) with NET/devnet/tls, writes NET/run/devnet.json
{pid, port} once it answers, and runs until SIGTERM/SIGINT, when it stops taking calls, commits
what it had accepted, and removes the file.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import grpc
from fabric_protos.gateway import gateway_pb2_grpc
from fabric_protos.peer import events_pb2_grpc

from alliance.msp import MspRegistry
from alliance.profile import ORDERER_ORG, load_profile
from alliance.wallet import devnet_tls
from network.devnet.deliver import DeliverService
from network.devnet.endorser import ContractRouter, load_peers
from network.devnet.integrity import verify_ledger_store
from network.devnet.ledger import DevnetLedger
from network.devnet.msp import CreatorValidator, MspWatcher
from network.devnet.service import GatewayService
from network.devnet.store import LedgerStore

log = logging.getLogger("network.devnet")

RUN_FILE = "devnet.json"
LEDGER_FILE = "ledger.sqlite"
DEFAULT_BATCH_SIZE = 100
DEFAULT_BATCH_TIMEOUT_MS = 100
MSP_CHECK_SECONDS = 1.0
BENCH_ENDORSEMENTS_ENV = "ALLIANCE_DEVNET_BENCH_ENDORSEMENTS"
"""bench/ledger.py only: `verify-all` (verify devnet's own endorsement signatures too) or
`unverified` (the old behaviour: trust every endorsement naming a known peer). Never set it
for a devnet that serves clients: `unverified` commits forged endorsements."""


@dataclass(frozen=True)
class DevnetConfig:
    net_dir: Path
    port: int = 0
    batch_size: int = DEFAULT_BATCH_SIZE
    batch_timeout_ms: int = DEFAULT_BATCH_TIMEOUT_MS
    host: str = "127.0.0.1"


def run_file(net_dir: Path) -> Path:
    return Path(net_dir) / "run" / RUN_FILE


def ledger_path(net_dir: Path) -> Path:
    return Path(net_dir) / "devnet" / LEDGER_FILE


def default_router() -> ContractRouter:
    from chaincode import default_router as contract_router

    return contract_router()


def _write_run_file(net_dir: Path, port: int) -> None:
    path = run_file(net_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({"pid": os.getpid(), "port": port}) + "\n")
    tmp.replace(path)


def _remove_run_file(net_dir: Path) -> None:
    path = run_file(net_dir)
    try:
        if json.loads(path.read_text()).get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError):
        pass


async def _watch_msps(ledger: DevnetLedger, net_dir: Path) -> None:
    peers_pending = False
    seen = ledger.validator.generation
    while True:
        await asyncio.sleep(MSP_CHECK_SECONDS)
        if ledger.validator.refresh():
            log.info("MSP folders changed: membership and revocations reloaded")
        if ledger.validator.generation != seen:  # reloaded here or by a creator check
            seen = ledger.validator.generation
            peers_pending = True
        if peers_pending:
            peers_pending = not _reload_peers(ledger, net_dir)


def _reload_peers(ledger: DevnetLedger, net_dir: Path) -> bool:
    """Reload the peer identities (a CA renewal reissues them); False when a peer's key and
    certificate do not match yet (caught between two writes: tried again on the next check)."""
    from alliance.identity import Identity
    from network.protoutil import deserialize_identity

    try:
        peers = load_peers(net_dir)
        for peer in peers.values():
            msp_id, pem = deserialize_identity(peer.serialized)
            if Identity(msp_id, pem).public_key.public_numbers() != (
                    peer.public_key.public_numbers()):
                return False
    except Exception as exc:  # a half-written file: keep the current peers, retry
        log.info("peer identities not reloaded yet: %s", exc)
        return False
    ledger.reload_peers(peers)
    return True


def _bench_endorsement_mode(ledger: DevnetLedger) -> None:
    mode = os.environ.get(BENCH_ENDORSEMENTS_ENV, "")
    if mode == "verify-all":
        ledger.endorsements.trust_issued = False
    elif mode == "unverified":
        ledger.endorsements.verify = False
    elif mode:
        raise SystemExit(f"{BENCH_ENDORSEMENTS_ENV} must be verify-all or unverified, not {mode!r}")
    if mode:
        log.warning(
            "%s=%s: endorsement checks changed for a benchmark; this devnet must not serve clients",
            BENCH_ENDORSEMENTS_ENV,
            mode,
        )


async def serve(
    config: DevnetConfig, router_factory: Callable[[], ContractRouter] = default_router
) -> None:
    net_dir = Path(config.net_dir)
    profile = load_profile(net_dir)
    tls = devnet_tls(net_dir)
    store = LedgerStore(ledger_path(net_dir))
    summary = verify_ledger_store(store, store.read_checkpoint())
    if summary.checkpoint is not None:
        store.write_checkpoint(summary.checkpoint)
    log.info(
        "ledger %s verified: height %d, %d transactions, %d state keys, state commitment %s; "
        "rows re-derived from block %d (%.2f s)",
        store.path,
        summary.height,
        summary.transactions,
        summary.state_keys,
        summary.head_commit[:16],
        summary.rows_checked_from,
        summary.seconds,
    )
    ledger = DevnetLedger(
        store,
        CreatorValidator(MspRegistry.from_network(net_dir), MspWatcher(net_dir)),
        load_peers(net_dir),
        router_factory,
        channel_id=profile.channel,
        chaincode=profile.chaincode,
        batch_size=config.batch_size,
        batch_timeout=config.batch_timeout_ms / 1000,
        orderer_msps=frozenset(o.msp_id for o in profile.orgs.values() if ORDERER_ORG in o.roles),
    )
    _bench_endorsement_mode(ledger)
    await ledger.start()
    server = grpc.aio.server(
        options=[
            ("grpc.so_reuseport", 0),
            ("grpc.max_concurrent_streams", 1024),
            ("grpc.keepalive_permit_without_calls", 1),
        ]
    )
    creds = grpc.ssl_server_credentials([(tls.private_key, tls.cert_chain)])
    port = server.add_secure_port(f"{config.host}:{config.port}", creds)
    if port == 0:
        raise OSError(f"cannot listen on {config.host}:{config.port} (port in use?)")
    gateway_pb2_grpc.add_GatewayServicer_to_server(
        GatewayService(ledger, f"{config.host}:{port}"), server
    )
    events_pb2_grpc.add_DeliverServicer_to_server(DeliverService(ledger), server)
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    assert ledger.commit_task is not None
    ledger.commit_task.add_done_callback(lambda _t: stop.set())
    watch = loop.create_task(_watch_msps(ledger, net_dir))
    _write_run_file(net_dir, port)
    log.info(
        "devnet serving channel %s chaincode %s on %s:%d (batch %d / %d ms), pid %d",
        profile.channel,
        profile.chaincode,
        config.host,
        port,
        config.batch_size,
        config.batch_timeout_ms,
        os.getpid(),
    )
    try:
        await stop.wait()
    finally:
        log.info("devnet stopping")
        watch.cancel()
        _remove_run_file(net_dir)
        task = ledger.commit_task
        failed = task.done() and not task.cancelled() and task.exception() is not None
        if not failed:
            await ledger.drain()  # answer the waiting CommitStatus calls before closing
        await server.stop(grace=1.0)
        await ledger.close()
        store.close()
        log.info("devnet stopped")
        if failed:
            raise SystemExit(1)
