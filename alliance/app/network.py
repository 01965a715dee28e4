"""Network use cases: init, up (whole or nothing, idempotent), down, status, add-org, and bringing
a member's node back (`node restart`).

`up` checks the passphrase by opening a key before it starts anything, starts only what is not
running (after a partial crash: exactly what is missing), uses the engine NET was last run with
(switching needs `switch_engine`: the two engines keep separate ledgers), and stops what it started
itself if a later part fails. devnet serves on the port fixed in NET's profile, so clients find
the ledger at one address across `down`/`up`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alliance.app.errors import BadInput, LocalTrouble, mapped_errors
from alliance.app.progress import Progress, ProgressFn, no_progress

ENGINES = ("devnet", "fabric")


@dataclass(frozen=True)
class Component:
    """One process of the network: devnet, an orderer, a peer, a chaincode server or a node."""

    name: str
    kind: str
    running: bool
    pid: int | None
    endpoint: str | None
    action: str = ""
    """What `up` did: "started", "already running" (empty for `status`)."""

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "state": "running" if self.running else "stopped"}


@dataclass(frozen=True)
class NetworkReport:
    dir: str
    engine: str
    components: list[Component]
    charter_initialised: bool = False
    charter_awaiting: list[str] = field(default_factory=list)
    """Founding orgs that must still accept the charter (`network accept-charter`)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "dir": self.dir,
            "engine": self.engine,
            "charter_initialised": self.charter_initialised,
            "charter_awaiting": self.charter_awaiting,
            "components": [c.to_dict() for c in self.components],
        }


def init(
    net_dir: Path,
    members: list[str],
    auditors: list[str],
    *,
    base_port: int = 0,
    devnet_port: int | None = None,
) -> Any:
    """Identities, charter and profile for a new alliance in an empty or new directory."""
    from alliance.keystore import get_passphrase
    from alliance.network_init import init_network

    if not members:
        raise BadInput("--members names no org: e.g. --members bank,telecom,platform")
    with mapped_errors():
        return init_network(
            Path(net_dir), members, auditors, get_passphrase(),
            base_port=base_port, devnet_port=devnet_port,
        )


def add_org(net_dir: Path, org: str, role: str = "member") -> Path:
    from alliance.keystore import get_passphrase
    from alliance.network_init import add_org as create_org

    with mapped_errors():
        return create_org(Path(net_dir), org, get_passphrase(), role=role)


def check_passphrase(net_dir: Path) -> bytes:
    """The passphrase, proven by decrypting a key of NET (before anything is started)."""
    from alliance.keystore import get_passphrase
    from alliance.profile import load_profile
    from alliance.wallet import load_user

    with mapped_errors():
        profile = load_profile(net_dir)
        passphrase = get_passphrase()
        orgs = profile.member_orgs()
        if orgs:
            load_user(net_dir, orgs[0], "admin", passphrase)
    return passphrase


def last_engine(net_dir: Path) -> str | None:
    from network.connection import engine_file

    path = engine_file(net_dir)
    return path.read_text().strip() if path.is_file() else None


def choose_engine(net_dir: Path, engine: str | None, switch_engine: bool) -> str:
    """The engine to start: the one NET last ran unless a switch is asked for explicitly."""
    last = last_engine(net_dir)
    if engine is None:
        return last or "devnet"
    if engine not in ENGINES:
        raise BadInput(f"--engine {engine!r}: use one of {', '.join(ENGINES)}")
    if last is not None and engine != last and not switch_engine:
        raise BadInput(
            f"{net_dir} was last run with {last}; its ledger is {last}'s. To start {engine} "
            f"instead, add --switch-engine: the two ledgers are separate, so what was recorded "
            f"on {last} (members, datasets, jobs) is not on {engine}",
        )
    return engine


def _member_nodes(profile: Any) -> list[str]:
    return [org for org in profile.member_orgs() if "member" in profile.orgs[org].roles]


def _set_devnet_port(net_dir: Path, port: int) -> None:
    from alliance.profile import load_profile, save_profile
    from network.devnet.launcher import devnet_status

    if not 1024 <= port <= 65535:
        raise BadInput(f"--devnet-port {port}: use a port in 1024..65535")
    profile = load_profile(net_dir)
    if profile.devnet.port == port:
        return
    if devnet_status(net_dir).running:
        raise BadInput(
            f"devnet of {net_dir} runs on port {profile.devnet.port}; stop it with "
            f"`alliance network down --dir {net_dir}` before moving it to {port}"
        )
    profile.devnet.port = port
    save_profile(net_dir, profile)


def _devnet_up(net_dir: Path, options: dict[str, int], progress: ProgressFn) -> Component:
    from alliance.profile import load_profile
    from network.devnet.launcher import devnet_status, port_is_free, start_devnet

    status = devnet_status(net_dir)
    if status.running:
        return Component("devnet", "ledger", True, status.pid, f"127.0.0.1:{status.port}",
                         "already running")
    port = load_profile(net_dir).devnet.port
    if port and not port_is_free(port):
        raise LocalTrouble(
            f"port {port} on 127.0.0.1, devnet's fixed address in {net_dir / 'profile.json'}, is "
            f"taken by another program; stop that program, or move devnet with "
            f"`alliance network up --dir {net_dir} --devnet-port PORT`"
        )
    progress(Progress("starting devnet"))
    process = start_devnet(net_dir, port=port, **options)
    return Component("devnet", "ledger", True, process.pid, process.address, "started")


def _fabric_expected(net_dir: Path, profile: Any) -> list[str]:
    names = ["orderer0"]
    for org in _member_nodes(profile):
        names += [f"peer0.{org}", f"chaincode.{org}"]
    return names


def fabric_components(net_dir: Path) -> list[Component]:
    from alliance.profile import load_profile
    from network.fabric.launcher import fabric_status

    profile = load_profile(net_dir)
    status = fabric_status(net_dir)
    names = list(dict.fromkeys([*_fabric_expected(net_dir, profile), *status]))
    recorded = _fabric_ports(net_dir)
    out = []
    for name in names:
        info = status.get(name, {})
        kind = name.split(".", 1)[0].rstrip("0")
        port = info.get("port") or recorded.get(name)
        out.append(
            Component(name, kind, bool(info.get("running")), info.get("pid"),
                      f"127.0.0.1:{port}" if port else None)
        )
    return out


def _fabric_ports(net_dir: Path) -> dict[str, int]:
    """Each Fabric process's listening port as last allocated (kept while stopped)."""
    from network.fabric.layout import FabricLayout, read_json
    from network.fabric.ports import FabricPorts

    data = read_json(FabricLayout(Path(net_dir).resolve()).ports_file, None)
    if not data:
        return {}
    ports = FabricPorts.from_json(data)
    found = {"orderer0": ports.orderer.listen}
    for org, peer in ports.peers.items():
        found[f"peer0.{org}"] = peer.listen
        found[f"chaincode.{org}"] = peer.chaincode_server
    return found


def _fabric_up(net_dir: Path, progress: ProgressFn, passphrase: bytes) -> list[Component]:
    from network.fabric.launcher import restart_chaincode, restart_peer, start_fabric

    before = fabric_components(net_dir)
    running = {c.name for c in before if c.running}
    if not running:
        progress(Progress("starting Fabric: orderer, peers, channel, contract"))
        start_fabric(net_dir, passphrase=passphrase)
        return [Component(c.name, c.kind, c.running, c.pid, c.endpoint, "started")
                for c in fabric_components(net_dir)]
    if "orderer0" not in running:
        raise LocalTrouble(
            f"Fabric's orderer of {net_dir} is not running while its peers are; restart the "
            f"whole network with `alliance network down --dir {net_dir}` then `network up`"
        )
    started = set()
    for c in before:
        if c.running or c.name == "orderer0":
            continue
        progress(Progress(f"restarting {c.name}"))
        kind, _, org = c.name.partition(".")
        if kind == "peer0":
            restart_peer(net_dir, org)
        else:
            restart_chaincode(net_dir, org)
        started.add(c.name)
    return [
        Component(c.name, c.kind, c.running, c.pid, c.endpoint,
                  "started" if c.name in started else "already running")
        for c in fabric_components(net_dir)
    ]


def node_component(net_dir: Path, org: str, action: str = "") -> Component:
    from node.launcher import node_status

    info = node_status(net_dir, org)
    port = info.get("port")
    return Component(f"node {org}", "node", bool(info["running"]), info.get("pid"),
                     f"127.0.0.1:{port}" if port else None, action)


def up(
    net_dir: Path,
    *,
    engine: str | None = None,
    switch_engine: bool = False,
    batch_size: int | None = None,
    batch_timeout_ms: int | None = None,
    nodes: bool = True,
    devnet_port: int | None = None,
    progress: ProgressFn = no_progress,
) -> NetworkReport:
    """Bring NET's network up, whole: start whatever of it is not running; report every part."""
    from alliance.app.charter import ensure_charter
    from alliance.profile import load_profile
    from network.connection import record_engine
    from network.devnet.launcher import stop_devnet
    from node.launcher import node_status, start_nodes, stop_node
    from node.query.launcher import stop_query_server

    net_dir = Path(net_dir).resolve()
    with mapped_errors():
        profile = load_profile(net_dir)
    passphrase = check_passphrase(net_dir)
    chosen = choose_engine(net_dir, engine, switch_engine)
    if devnet_port is not None:
        with mapped_errors():
            _set_devnet_port(net_dir, devnet_port)
    components: list[Component] = []
    started_devnet = False
    started_nodes: list[str] = []
    started_query: list[str] = []
    with mapped_errors():
        try:
            if chosen == "fabric":
                components += _fabric_up(net_dir, progress, passphrase)
            else:
                options: dict[str, int] = {}
                if batch_size:
                    options["batch_size"] = batch_size
                if batch_timeout_ms:
                    options["batch_timeout_ms"] = batch_timeout_ms
                devnet = _devnet_up(net_dir, options, progress)
                started_devnet = devnet.action == "started"
                components.append(devnet)
            record_engine(net_dir, chosen)
            progress(Progress("checking the charter on the ledger"))
            charter = ensure_charter(net_dir)
            if not charter.in_effect:
                progress(Progress(charter.next_step()))
            if nodes:
                members = _member_nodes(profile)
                missing = [org for org in members if not node_status(net_dir, org)["running"]]
                if missing:
                    progress(Progress(f"starting the nodes of {', '.join(missing)}"))
                    start_nodes(net_dir, missing)
                    started_nodes = missing
                components += [
                    node_component(net_dir, org,
                                   "started" if org in missing else "already running")
                    for org in members
                ]
                if charter.in_effect:
                    started_query, query = _query_servers_up(net_dir, members, progress)
                    components += query
        except BaseException:
            for org in started_query:
                stop_query_server(net_dir, org)
            for org in started_nodes:
                stop_node(net_dir, org)
            if started_devnet:
                stop_devnet(net_dir)
            raise
    progress(Progress("network up", finished=True))
    return NetworkReport(str(net_dir), chosen, components, charter.changed, charter.awaiting)


def query_component(net_dir: Path, org: str, action: str = "") -> Component:
    from node.query.launcher import query_server_status

    info = query_server_status(net_dir, org)
    port = info.get("port")
    role = f" ({info['role'].upper()})" if info.get("role") else ""
    return Component(f"query server {org}{role}", "query", bool(info["running"]),
                     info.get("pid"), f"127.0.0.1:{port}" if port else None, action)


def _query_servers_up(
    net_dir: Path, members: list[str], progress: ProgressFn
) -> tuple[list[str], list[Component]]:
    """Start the query servers the charter on the ledger names (on members' nodes here)."""
    from alliance.app.query import charter_servers
    from node.query.launcher import query_server_status, start_query_servers

    servers = [org for org in charter_servers(net_dir) if org in members]
    missing = [org for org in servers if not query_server_status(net_dir, org)["running"]]
    if missing:
        progress(Progress(f"starting the query servers of {', '.join(missing)}"))
        start_query_servers(net_dir, missing)
    return missing, [query_component(net_dir, org, "started" if org in missing
                                     else "already running") for org in servers]


def query_server_orgs(net_dir: Path) -> list[str]:
    """Orgs with a query server run file in NET (running or not)."""
    return sorted(p.stem.removeprefix("query-") for p in (Path(net_dir) / "run").glob(
        "query-*.json"))


def accept_charter(net_dir: Path, org: str) -> Any:
    """`org`'s founding admin accepts NET's founding charter on the running ledger."""
    from alliance.app.charter import accept_charter as accept

    with mapped_errors():
        return accept(Path(net_dir).resolve(), org)


def down(net_dir: Path) -> list[str]:
    """Stop, by pid, everything `up` started; the names of what was running."""
    from alliance.profile import load_profile
    from network.connection import current_engine
    from node.launcher import stop_node

    net_dir = Path(net_dir).resolve()
    stopped: list[str] = []
    with mapped_errors():
        profile = load_profile(net_dir)
        from node.query.launcher import stop_query_server

        stopped += [f"query server {org}" for org in query_server_orgs(net_dir)
                    if stop_query_server(net_dir, org)]
        stopped += [
            f"node {org}"
            for org in profile.member_orgs(include_candidates=True)
            if stop_node(net_dir, org)
        ]
        if current_engine(net_dir) == "fabric":
            from network.fabric.launcher import stop_fabric

            stopped += stop_fabric(net_dir)
        else:
            from network.devnet.launcher import stop_devnet

            if stop_devnet(net_dir):
                stopped.append("devnet")
    return stopped


def status(net_dir: Path) -> NetworkReport:
    """Every component of NET's network, running or stopped."""
    from alliance.profile import load_profile
    from network.connection import current_engine
    from network.devnet.launcher import devnet_status

    net_dir = Path(net_dir).resolve()
    with mapped_errors():
        profile = load_profile(net_dir)
        engine = current_engine(net_dir)
        components: list[Component] = []
        if engine == "fabric":
            components += fabric_components(net_dir)
        else:
            dev = devnet_status(net_dir)
            port = dev.port or profile.devnet.port or None
            components.append(
                Component("devnet", "ledger", dev.running, dev.pid,
                          f"127.0.0.1:{port}" if port else None)
            )
        components += [node_component(net_dir, org) for org in _member_nodes(profile)]
        components += [query_component(net_dir, org) for org in query_server_orgs(net_dir)]
    return NetworkReport(str(net_dir), engine, components)


NODE_DRAIN_SECONDS = 120.0
"""How long a restart lets the node's running jobs finish (the node's default job deadline)."""


def restart_node(net_dir: Path, org: str, drain: float | None = NODE_DRAIN_SECONDS) -> Component:
    """Stop org's node if it runs, and start it again (the ledger must be up).

    The node drains first: runs in progress finish (up to `drain` seconds) and the jobs it did
    not start are taken by the new process, so a restart loses no job. `drain=None` stops at
    once: running jobs fail with node_stopped."""
    from alliance.profile import load_profile
    from node.launcher import start_node, stop_node

    net_dir = Path(net_dir).resolve()
    with mapped_errors():
        profile = load_profile(net_dir)
        if org not in _member_nodes(profile):
            raise BadInput(
                f"{org!r} runs no node in {net_dir}; members with nodes: "
                f"{', '.join(_member_nodes(profile)) or 'none'}"
            )
        check_passphrase(net_dir)
        stop_node(net_dir, org, drain=drain)
        start_node(net_dir, org)
    return node_component(net_dir, org, "started")


def repair(net_dir: Path) -> dict[str, Any]:
    """`network repair`: rebuild devnet's world state, key history, tx index and events by
    replaying its blocks (devnet stopped). Refused (exit 1) naming the block when the blocks
    themselves are corrupt; nothing is written then."""
    from network.devnet import repair_network

    with mapped_errors():
        report = repair_network(Path(net_dir).resolve())
    return {
        "found": report.found or "nothing wrong",
        "blocks_replayed": report.blocks,
        "transactions": report.transactions,
        "state_keys": report.state_keys,
        "commitments_added": report.commitments_added,
        "state_commitment": report.after.head_commit,
        "seconds": round(report.seconds, 2),
    }
