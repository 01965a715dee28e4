"""Ports of a Fabric network: from the profile when set there, else free ones, kept in ports.json.

The profile fixes the peers' and the orderer's listen ports (`--base-port` at init); every other
port (operations, orderer admin, the peers' chaincode listener, the chaincode servers) is chosen
free on first start and recorded, so later starts reuse them: the chaincode server's address is
inside the installed package, and two networks side by side never pick the same port.
"""

from __future__ import annotations

import socket
from contextlib import ExitStack
from dataclasses import asdict, dataclass

from alliance.profile import Profile
from network.fabric.errors import FabricError
from network.fabric.layout import FabricLayout, read_json, write_json


@dataclass(frozen=True)
class PeerPorts:
    listen: int
    chaincode_listen: int
    operations: int
    chaincode_server: int


@dataclass(frozen=True)
class OrdererPorts:
    listen: int
    admin: int
    operations: int


@dataclass(frozen=True)
class FabricPorts:
    orderer: OrdererPorts
    peers: dict[str, PeerPorts]

    def to_json(self) -> dict:
        return {
            "orderer": asdict(self.orderer),
            "peers": {o: asdict(p) for o, p in self.peers.items()},
        }

    @classmethod
    def from_json(cls, data: dict) -> FabricPorts:
        return cls(
            orderer=OrdererPorts(**data["orderer"]),
            peers={org: PeerPorts(**p) for org, p in data["peers"].items()},
        )

    def all(self) -> list[int]:
        ports = list(asdict(self.orderer).values())
        for peer in self.peers.values():
            ports += list(asdict(peer).values())
        return ports


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # as Go's and gRPC's servers do: connections in TIME_WAIT do not block a new listener
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


class _FreePorts:
    """Hands out distinct free ports, holding each socket until all are chosen."""

    def __init__(self, stack: ExitStack, taken: set[int]) -> None:
        self._stack = stack
        self._taken = set(taken)

    def take(self, wanted: int = 0) -> int:
        if wanted:
            self._taken.add(wanted)
            return wanted
        while True:
            sock = self._stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
            if port not in self._taken:
                self._taken.add(port)
                return port


def allocate_ports(layout: FabricLayout, profile: Profile, orgs: list[str]) -> FabricPorts:
    """The recorded ports (plus new ones for orgs not yet recorded), else a fresh choice."""
    recorded = read_json(layout.ports_file, None)
    ports = FabricPorts.from_json(recorded) if recorded else None
    fixed = {profile.orderer.port} | {profile.orgs[o].peer.port for o in orgs}
    with ExitStack() as stack:
        free = _FreePorts(stack, {p for p in fixed if p} | set(ports.all() if ports else []))
        if ports is None:
            ports = FabricPorts(
                orderer=OrdererPorts(
                    listen=free.take(profile.orderer.port),
                    admin=free.take(),
                    operations=free.take(),
                ),
                peers={},
            )
        for org in orgs:
            if org not in ports.peers:
                ports.peers[org] = PeerPorts(
                    listen=free.take(profile.orgs[org].peer.port),
                    chaincode_listen=free.take(),
                    operations=free.take(),
                    chaincode_server=free.take(),
                )
    write_json(layout.ports_file, ports.to_json())
    return ports


def check_ports_free(ports: FabricPorts) -> None:
    """Refuse to start when a port is taken (by a stale network or anything else)."""
    busy = [p for p in ports.all() if not port_is_free(p)]
    if busy:
        raise FabricError(
            f"ports {', '.join(map(str, busy))} are in use; stop whatever holds them "
            "(`alliance network down`, or a stale Fabric process), or choose another --base-port"
        )
