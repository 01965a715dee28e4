"""Start, stop and inspect a Fabric network for NET, from the binaries in FABRIC_BIN_DIR.

    network = start_fabric(Path("NET"))      # orderer, one peer per member org, channel, contract
    host, port, tls_root = gateway_endpoint(Path("NET"), "bank")
    stop_fabric(Path("NET"))

`start_fabric` writes the configs (network.fabric.config), starts the orderer and the peers
(each waited for on its operations port's /healthz), creates the channel and joins the peers,
starts one chaincode server per org (`python -m chaincode serve`), installs, approves and commits
the contract, and returns once the channel has a Raft leader and every peer's gossip knows every
other org's peer (so gateways can collect endorsements from several orgs). What is done is
recorded in run/fabric/state.json, so a later start after `stop_fabric` reuses the ledgers and
skips what is already done. Every process is tracked by pid in run/fabric/processes.json.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alliance.keystore import get_passphrase, load_private_key
from alliance.profile import Profile, load_profile
from network.fabric import channel as channel_ops
from network.fabric import config, processes
from network.fabric.binaries import resolve_bin_dir
from network.fabric.config import HOST
from network.fabric.errors import FabricError
from network.fabric.layout import FabricLayout, read_json, write_json
from network.fabric.lifecycle import Lifecycle
from network.fabric.package import write_package
from network.fabric.ports import FabricPorts, allocate_ports, check_ports_free

log = logging.getLogger(__name__)

START_TIMEOUT = 60.0
BUILDER_SOURCE = Path(__file__).parent / "builder" / "bin"
LABEL_SUFFIX = "_1"


@dataclass(frozen=True)
class PeerInfo:
    org: str
    msp_id: str
    host: str
    port: int
    tls_root: Path
    """The TLS CA that signed the peer's server certificate."""
    chaincode_address: str
    package_id: str

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class FabricNetwork:
    net_dir: Path
    channel: str
    chaincode: str
    orderer: str
    peers: dict[str, PeerInfo]
    started_in: float
    """Seconds `start_fabric` took."""

    def endpoint(self, org: str) -> str:
        return self.peers[org].address


# --- helpers -------------------------------------------------------------------------------------


def _clean_env(**extra: str) -> dict[str, str]:
    """The caller's environment without Fabric overrides that would change our configs."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CORE_", "ORDERER_", "FABRIC_CFG_PATH"))
    }
    env.update(extra)
    return env


def _http_get(port: int, path: str) -> tuple[int, str] | None:
    try:
        with urllib.request.urlopen(f"http://{HOST}:{port}{path}", timeout=1.0) as response:
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, ""
    except (OSError, ValueError):
        return None


def _metric(port: int, name: str, channel: str) -> float | None:
    answer = _http_get(port, "/metrics")
    if answer is None or answer[0] != 200:
        return None
    for line in answer[1].splitlines():
        if line.startswith(name + "{") and f'channel="{channel}"' in line:
            try:
                return float(line.rsplit(" ", 1)[1])
            except ValueError:
                return None
    return None


def _answers(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


def _wait(what: str, ready: Any, deadline: float, process: processes.Process | None = None) -> None:
    while True:
        if ready():
            return
        if process is not None and processes.exited(process) is not None:
            raise FabricError(
                f"{process.name} exited while starting ({what}); last lines of {process.log}:\n"
                f"{processes.log_tail(process.log)}"
            )
        if time.monotonic() > deadline:
            tail = (
                f"; last lines of {process.log}:\n{processes.log_tail(process.log)}"
                if process
                else ""
            )
            raise FabricError(f"timed out waiting for {what}{tail}")
        time.sleep(0.1)


def _install_builder(layout: FabricLayout) -> None:
    """Copy the project's CCaaS builder next to the configs, run by this Python."""
    target = layout.builder_dir / "bin"
    target.mkdir(parents=True, exist_ok=True)
    for name in ("detect", "build", "release"):
        text = (BUILDER_SOURCE / name).read_text()
        lines = text.splitlines(keepends=True)
        if lines and lines[0].startswith("#!"):
            lines[0] = f"#!{sys.executable}\n"
        path = target / name
        path.write_text("".join(lines))
        os.chmod(path, 0o755)


def _member_orgs(net_dir: Path, profile: Profile) -> list[str]:
    orgs = profile.member_orgs()
    if not orgs:
        raise FabricError(f"{net_dir} has no member orgs; run `alliance network init` first")
    layout = FabricLayout(net_dir)
    for org in orgs:
        if not layout.peer_msp(org).is_dir():
            raise FabricError(
                f"{layout.peer_msp(org)} is missing: the org {org!r} has no peer identity; "
                "was NET made by `alliance network init`?"
            )
    return orgs


def _channel_orgs(orgs: list[str], state: dict[str, Any]) -> list[str]:
    """The orgs to run: all members for a new channel; for an existing one, those in it.

    An org voted in after the channel was created needs a channel config update first (see
    network/fabric/README.md); until then its peer is not started."""
    known = state.get("channel_orgs")
    if not known:
        return orgs
    missing = [org for org in orgs if org not in known]
    if missing:
        log.warning(
            "%s not in the channel yet: add them with a channel config update (see "
            "network/fabric/README.md); their peers are not started",
            ", ".join(missing),
        )
    return [org for org in orgs if org in known]


# --- start ---------------------------------------------------------------------------------------


def start_fabric(
    net_dir: Path,
    bin_dir: Path | None = None,
    *,
    timeout: float = START_TIMEOUT,
    passphrase: bytes | None = None,
) -> FabricNetwork:
    """Start the Fabric network of NET and deploy the contract; return when it serves.

    `passphrase` opens the org admins' keys (default: `ALLIANCE_PASSPHRASE` or a prompt)."""
    started = time.monotonic()
    deadline = started + timeout
    net_dir = Path(net_dir).resolve()
    bin_dir = resolve_bin_dir(bin_dir)
    profile = load_profile(net_dir)
    orgs = _member_orgs(net_dir, profile)
    layout = FabricLayout(net_dir)
    running = [p.name for p in processes.recorded(layout).values() if processes.is_running(p)]
    if running:
        raise FabricError(
            f"Fabric for {net_dir} already runs ({', '.join(sorted(running))}); "
            "stop it first with `alliance network down`"
        )
    passphrase = passphrase if passphrase is not None else get_passphrase()
    # fail before starting anything when the passphrase cannot open the admin keys
    load_private_key(layout.admin_msp(orgs[0]) / "keystore" / "key.pem", passphrase)
    state: dict[str, Any] = read_json(layout.state_file, {})
    orgs = _channel_orgs(orgs, state)
    ports = allocate_ports(layout, profile, orgs)
    check_ports_free(ports)
    shutil.rmtree(layout.tmp, ignore_errors=True)  # decrypted keys left by an interrupted run
    config.write_all(layout, profile, ports, orgs)
    _install_builder(layout)
    try:
        _start_nodes(bin_dir, layout, profile, ports, orgs, deadline)
        log.info("orderer and peers healthy after %.2f s", time.monotonic() - started)
        _create_channel(bin_dir, layout, profile, ports, orgs, passphrase, state, deadline)
        log.info("channel ready after %.2f s", time.monotonic() - started)
        package_ids = _start_chaincode(layout, profile, ports, orgs, deadline)
        log.info("chaincode servers up after %.2f s", time.monotonic() - started)
        _deploy(bin_dir, layout, profile, ports, orgs, passphrase, state, package_ids)
        log.info("contract deployed after %.2f s", time.monotonic() - started)
        _wait_gossip(profile, ports, orgs, deadline)
        log.info("gossip converged after %.2f s", time.monotonic() - started)
    except BaseException:
        stop_fabric(net_dir)
        raise
    return _network(layout, profile, ports, orgs, package_ids, time.monotonic() - started)


def _start_nodes(
    bin_dir: Path,
    layout: FabricLayout,
    profile: Profile,
    ports: FabricPorts,
    orgs: list[str],
    deadline: float,
) -> None:
    orderer = processes.spawn(
        layout,
        "orderer0",
        [str(bin_dir / "orderer")],
        _clean_env(FABRIC_CFG_PATH=str(layout.orderer_dir)),
        str(bin_dir / "orderer"),
    )
    peers = {
        org: processes.spawn(
            layout,
            f"peer0.{org}",
            [str(bin_dir / "peer"), "node", "start"],
            _clean_env(FABRIC_CFG_PATH=str(layout.peer_dir(org))),
            str(bin_dir / "peer"),
        )
        for org in orgs
    }
    _wait(
        "the orderer's /healthz",
        lambda: (_http_get(ports.orderer.operations, "/healthz") or (0,))[0] == 200,
        deadline,
        orderer,
    )
    for org, peer in peers.items():
        _wait(
            f"{org}'s peer /healthz",
            lambda org=org: (_http_get(ports.peers[org].operations, "/healthz") or (0,))[0] == 200,
            deadline,
            peer,
        )


def _create_channel(
    bin_dir: Path,
    layout: FabricLayout,
    profile: Profile,
    ports: FabricPorts,
    orgs: list[str],
    passphrase: bytes,
    state: dict[str, Any],
    deadline: float,
) -> None:
    channel = profile.channel
    if not state.get("orderer_joined"):
        channel_ops.create_genesis_block(bin_dir, layout, channel)
        channel_ops.orderer_join(bin_dir, layout, ports, channel, passphrase)
        state["orderer_joined"] = True
        state["channel_orgs"] = list(orgs)
        write_json(layout.state_file, state)
    joined = set(state.get("peers_joined", []))
    todo = [org for org in orgs if org not in joined]
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(
            pool.map(
                lambda org: channel_ops.peer_join(bin_dir, layout, profile, ports, org, passphrase),
                todo,
            )
        )
    state["peers_joined"] = sorted(joined | set(todo))
    write_json(layout.state_file, state)
    _wait(
        "the channel's Raft leader",
        lambda: _metric(ports.orderer.operations, "consensus_etcdraft_is_leader", channel) == 1,
        deadline,
    )


def _label(profile: Profile) -> str:
    return f"{profile.chaincode}{LABEL_SUFFIX}"


def chaincode_address(ports: FabricPorts, org: str) -> str:
    return f"{HOST}:{ports.peers[org].chaincode_server}"


def _spawn_chaincode(
    layout: FabricLayout, org: str, address: str, package_id: str
) -> processes.Process:
    return processes.spawn(
        layout,
        f"chaincode.{org}",
        [sys.executable, "-m", "chaincode", "serve", "--address", address, "--id", package_id],
        _clean_env(PYTHONUNBUFFERED="1"),
        package_id,
    )


def _start_chaincode(
    layout: FabricLayout, profile: Profile, ports: FabricPorts, orgs: list[str], deadline: float
) -> dict[str, str]:
    package_ids: dict[str, str] = {}
    started: dict[str, processes.Process] = {}
    for org in orgs:
        address = chaincode_address(ports, org)
        _, package_id = write_package(layout.package_dir(org), _label(profile), address)
        package_ids[org] = package_id
        started[org] = _spawn_chaincode(layout, org, address, package_id)
    for org, process in started.items():
        port = ports.peers[org].chaincode_server
        _wait(f"{org}'s chaincode server", lambda port=port: _answers(port), deadline, process)
    return package_ids


def _deploy(
    bin_dir: Path,
    layout: FabricLayout,
    profile: Profile,
    ports: FabricPorts,
    orgs: list[str],
    passphrase: bytes,
    state: dict[str, Any],
    package_ids: dict[str, str],
) -> None:
    lifecycle = Lifecycle(bin_dir, layout, profile, ports, passphrase)
    deployed = state.get("chaincode", {})
    approved: dict[str, str] = deployed.get("approved", {})
    sequence = int(deployed.get("sequence", 1))
    todo = [org for org in orgs if approved.get(org) != package_ids[org]]
    if not todo and deployed.get("committed"):
        return
    if deployed.get("committed") and any(org in approved for org in todo):
        raise FabricError(
            "the chaincode servers' addresses changed since the contract was committed "
            f"(see {layout.ports_file}); restore that file or start over with a new network"
        )

    def install_and_approve(org: str) -> None:
        lifecycle.install(org, layout.package_dir(org) / f"{_label(profile)}.tar.gz")
        lifecycle.approve(org, package_ids[org], sequence)

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(install_and_approve, todo))
    approved.update({org: package_ids[org] for org in todo})
    deployed.update({"approved": approved, "sequence": sequence})
    state["chaincode"] = deployed
    write_json(layout.state_file, state)
    if not deployed.get("committed"):
        lifecycle.commit(orgs, sequence)
        deployed["committed"] = True
        write_json(layout.state_file, state)


def _wait_gossip(profile: Profile, ports: FabricPorts, orgs: list[str], deadline: float) -> None:
    """Each peer must know every other org's peer: the gateway plans endorsements from that."""
    others = len(ports.peers) - 1
    if others == 0:
        return
    for org in (o for o in orgs if o in ports.peers):
        port = ports.peers[org].operations
        _wait(
            f"{org}'s peer to see the other orgs' peers (gossip)",
            lambda port=port: (
                (_metric(port, "gossip_membership_total_peers_known", profile.channel) or 0)
                >= others
            ),
            deadline,
        )


def _network(
    layout: FabricLayout,
    profile: Profile,
    ports: FabricPorts,
    orgs: list[str],
    package_ids: dict[str, str],
    took: float,
) -> FabricNetwork:
    peers = {
        org: PeerInfo(
            org=org,
            msp_id=profile.orgs[org].msp_id,
            host=HOST,
            port=ports.peers[org].listen,
            tls_root=layout.peer_tls(org) / "ca.crt",
            chaincode_address=chaincode_address(ports, org),
            package_id=package_ids.get(org, ""),
        )
        for org in orgs
    }
    return FabricNetwork(
        net_dir=layout.net_dir,
        channel=profile.channel,
        chaincode=profile.chaincode,
        orderer=f"{HOST}:{ports.orderer.listen}",
        peers=peers,
        started_in=took,
    )


# --- stop, status, endpoints --------------------------------------------------------------------


def stop_fabric(net_dir: Path, timeout: float = 10.0) -> list[str]:
    """Stop every process recorded for NET (chaincode servers, peers, orderer), by pid.

    Returns the names of those that were running. Ledgers and state stay for the next start."""
    layout = FabricLayout(Path(net_dir).resolve())
    names = list(processes.recorded(layout))
    order = sorted(names, key=lambda n: (not n.startswith("chaincode."), not n.startswith("peer")))
    stopped = [name for name in order if processes.stop(layout, name, timeout)]
    shutil.rmtree(layout.tmp, ignore_errors=True)
    return stopped


def fabric_status(net_dir: Path) -> dict[str, dict[str, Any]]:
    """What runs for NET, by process name (orderer0, peer0.<org>, chaincode.<org>):
    {"running", "pid", "port", "log"} each. Empty when nothing was ever started."""
    net_dir = Path(net_dir).resolve()
    layout = FabricLayout(net_dir)
    recorded = read_json(layout.ports_file, None)
    ports = FabricPorts.from_json(recorded) if recorded else None
    status: dict[str, dict[str, Any]] = {}
    for name, process in processes.recorded(layout).items():
        running = processes.is_running(process)
        status[name] = {
            "running": running,
            "pid": process.pid if running else None,
            "port": _port_of(name, ports),
            "log": str(process.log),
        }
    return status


def _port_of(name: str, ports: FabricPorts | None) -> int | None:
    if ports is None:
        return None
    kind, _, org = name.partition(".")
    if kind == "orderer0":
        return ports.orderer.listen
    if org in ports.peers:
        peer = ports.peers[org]
        return peer.listen if kind == "peer0" else peer.chaincode_server
    return None


def chaincode_committed(net_dir: Path) -> bool:
    """True once the contract's definition has been committed on the channel."""
    state = read_json(FabricLayout(Path(net_dir).resolve()).state_file, {})
    return bool(state.get("chaincode", {}).get("committed"))


def recorded_peer_orgs(net_dir: Path) -> list[str]:
    """The orgs whose peers `network up --engine fabric` started on NET."""
    recorded = read_json(FabricLayout(Path(net_dir).resolve()).ports_file, None) or {}
    return sorted(recorded.get("peers", {}))


def gateway_endpoint(net_dir: Path, org: str) -> tuple[str, int, bytes]:
    """Where `org`'s clients reach a Gateway: (host, port, PEM of the TLS root to trust)."""
    net_dir = Path(net_dir).resolve()
    layout = FabricLayout(net_dir)
    recorded = read_json(layout.ports_file, None)
    if not recorded or org not in recorded.get("peers", {}):
        raise FabricError(
            f"no Fabric peer recorded for {org!r} in {net_dir}; start the network with "
            "`alliance network up --engine fabric` first"
        )
    ports = FabricPorts.from_json(recorded)
    return HOST, ports.peers[org].listen, (layout.peer_tls(org) / "ca.crt").read_bytes()


def restart_chaincode(net_dir: Path, org: str, timeout: float = 30.0) -> processes.Process:
    """Stop `org`'s chaincode server and start it again (same address and package id)."""
    net_dir = Path(net_dir).resolve()
    layout = FabricLayout(net_dir)
    name = f"chaincode.{org}"
    record = processes.recorded(layout).get(name)
    if record is None:
        raise FabricError(f"no chaincode server recorded for {org!r}; is the network up?")
    ports = FabricPorts.from_json(read_json(layout.ports_file, {}))
    processes.stop(layout, name)
    process = _spawn_chaincode(layout, org, chaincode_address(ports, org), record.program)
    port = ports.peers[org].chaincode_server
    _wait(f"{org}'s chaincode server", lambda: _answers(port), time.monotonic() + timeout, process)
    return process


def restart_peer(net_dir: Path, org: str, timeout: float = START_TIMEOUT) -> processes.Process:
    """Stop `org`'s peer and start it again on its ledger; return once it serves and gossips."""
    net_dir = Path(net_dir).resolve()
    layout = FabricLayout(net_dir)
    name = f"peer0.{org}"
    record = processes.recorded(layout).get(name)
    if record is None:
        raise FabricError(f"no peer recorded for {org!r}; is the network up?")
    profile = load_profile(net_dir)
    ports = FabricPorts.from_json(read_json(layout.ports_file, {}))
    processes.stop(layout, name)
    deadline = time.monotonic() + timeout
    process = processes.spawn(
        layout,
        name,
        [record.program, "node", "start"],
        _clean_env(FABRIC_CFG_PATH=str(layout.peer_dir(org))),
        record.program,
    )
    port = ports.peers[org].operations
    _wait(
        f"{org}'s peer /healthz",
        lambda: (_http_get(port, "/healthz") or (0,))[0] == 200,
        deadline,
        process,
    )
    _wait_gossip(profile, ports, [org], deadline)
    return process


def remove_fabric_state(net_dir: Path) -> None:
    """Forget the Fabric network of NET (ledgers, configs, logs). It must be stopped."""
    layout = FabricLayout(Path(net_dir).resolve())
    if any(processes.is_running(p) for p in processes.recorded(layout).values()):
        raise FabricError("Fabric still runs for this network; stop it first")
    shutil.rmtree(layout.root, ignore_errors=True)
