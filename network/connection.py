"""Connecting a member to whichever ledger its network runs: devnet or Fabric.

`network up` records the engine in NET/run/engine; nodes, the CLI and the TUI all connect through
`connect_member`, so there is one code path to the ledger whatever serves it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from alliance.profile import Profile, load_profile
from alliance.wallet import devnet_tls_ca, load_user
from network.errors import DevnetError
from network.gateway import Contract, Gateway, Network, connect

ENGINES = ("devnet", "fabric")
ENGINE_FILE = "engine"


def engine_file(net_dir: Path) -> Path:
    return Path(net_dir) / "run" / ENGINE_FILE


def record_engine(net_dir: Path, engine: str) -> None:
    if engine not in ENGINES:
        raise DevnetError(f"unknown engine {engine!r}; use one of {', '.join(ENGINES)}")
    path = engine_file(net_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(engine + "\n")


def current_engine(net_dir: Path) -> str:
    """The engine `network up` started (devnet when none is recorded)."""
    path = engine_file(net_dir)
    return path.read_text().strip() if path.is_file() else "devnet"


def gateway_endpoint(net_dir: Path, org: str) -> tuple[str, bytes]:
    """(host:port, TLS roots PEM) of the Gateway `org` should use now."""
    engine = current_engine(net_dir)
    if engine == "fabric":
        from network.fabric.launcher import gateway_endpoint as fabric_endpoint

        host, port, roots = fabric_endpoint(net_dir, org)
        return f"{host}:{port}", roots
    from network.devnet.launcher import devnet_status

    status = devnet_status(net_dir)
    if not status.running or status.port is None:
        raise DevnetError(
            f"the ledger of {net_dir} is not running; start it with "
            f"`alliance network up --dir {net_dir}`"
        )
    # Only devnet's own TLS CA: trusting every org's TLS CA would let any org's peer or node
    # certificate (peer keys are stored unencrypted, as Fabric loads them) pose as the ledger.
    return f"127.0.0.1:{status.port}", devnet_tls_ca(net_dir)


@dataclass
class MemberConnection:
    """A member's open Gateway plus the alliance's channel and contract."""

    org: str
    profile: Profile
    gateway: Gateway

    @property
    def network(self) -> Network:
        return self.gateway.get_network(self.profile.channel)

    @property
    def contract(self) -> Contract:
        return self.network.get_contract(self.profile.chaincode)

    def close(self) -> None:
        self.gateway.close()

    def __enter__(self) -> MemberConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def connect_member(
    net_dir: Path, org: str, user: str = "admin", passphrase: bytes | None = None
) -> MemberConnection:
    """Open a Gateway for `user` of `org` against the running ledger of NET."""
    profile = load_profile(net_dir)
    identity, signer = load_user(net_dir, org, user, passphrase)
    endpoint, roots = gateway_endpoint(net_dir, org)
    gateway = connect(endpoint, identity=identity, signer=signer, tls_root_certs=roots)
    return MemberConnection(org=org, profile=profile, gateway=gateway)
