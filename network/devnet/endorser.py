"""The endorsing peer inside devnet: simulate a proposal against committed state with the
contract in-process, and sign the proposal response as an org's peer (ESCC's default rule).

Endorsements come from a member org's `peer0` identity (NET/orgs/<org>/peers/peer0/msp):
the creator's own org when it has a peer, else the first member org, as Fabric's gateway asks
its local org first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric import ec
from fabric_protos.peer import proposal_response_pb2

from alliance.keystore import load_private_key
from alliance.profile import load_profile
from alliance.signing import EcdsaSigner
from network.devnet.msp import Creator
from network.devnet.simulator import HistoryReader, Simulation, SimulationError
from network.devnet.world_state import WorldState
from network.errors import DevnetError
from network.protoutil import (
    ReadWriteSet,
    UnpackedProposal,
    chaincode_event_bytes,
    endorse,
    proposal_response_payload,
    serialize_identity,
)

ERROR_THRESHOLD = 400
"""Fabric's shim.ERRORTHRESHOLD: a response at or above it is never endorsed."""
CHAINCODE_VERSION = "1.0"


class ContractRouter(Protocol):
    def invoke(self, stub: Any) -> Any: ...


@dataclass(frozen=True)
class PeerIdentity:
    """One org's endorsing peer: its serialized identity and signing key."""

    msp_id: str
    serialized: bytes
    signer: EcdsaSigner

    @property
    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self.signer.public_key


def load_peers(net_dir: Path) -> dict[str, PeerIdentity]:
    """Every non-candidate org's peer0 identity, by MSP id."""
    profile = load_profile(net_dir)
    peers: dict[str, PeerIdentity] = {}
    for org in profile.member_orgs():
        entry = profile.orgs[org]
        msp = Path(net_dir) / entry.dir / "peers" / "peer0" / "msp"
        certs = sorted((msp / "signcerts").glob("*.pem"))
        keys = sorted((msp / "keystore").glob("*"))
        if not certs or not keys:
            continue
        signer = EcdsaSigner(load_private_key(keys[0], None))
        peers[entry.msp_id] = PeerIdentity(
            entry.msp_id, serialize_identity(entry.msp_id, certs[0].read_bytes()), signer
        )
    if not peers:
        raise DevnetError(
            f"no org in {net_dir} has a peer identity (orgs/<org>/peers/peer0/msp); "
            "re-run `alliance network init`"
        )
    return peers


@dataclass(frozen=True)
class Simulated:
    """What running the contract produced."""

    response: proposal_response_pb2.Response
    rwset: ReadWriteSet
    event: tuple[str, bytes] | None

    @property
    def ok(self) -> bool:
        return self.response.status < ERROR_THRESHOLD


@dataclass(frozen=True)
class Endorsed:
    simulated: Simulated
    peer: PeerIdentity
    prp_bytes: bytes
    endorsement: proposal_response_pb2.Endorsement


class Endorser:
    def __init__(
        self,
        peers: dict[str, PeerIdentity],
        state: WorldState,
        history: HistoryReader,
        router_factory: Callable[[], ContractRouter],
        chaincode: str,
    ) -> None:
        self.peers = peers
        self._state = state
        self._history = history
        self._router = router_factory()
        self.chaincode = chaincode
        self._default = peers[sorted(peers)[0]]

    def peer_for(self, msp_id: str) -> PeerIdentity:
        return self.peers.get(msp_id, self._default)

    def simulate(self, proposal: UnpackedProposal, creator: Creator) -> Simulated:
        ident = creator.identity
        try:
            sim = Simulation(
                proposal, self._state, self._history, (ident.msp_id, ident.certificate)
            )
            result = self._router.invoke(sim)
            response = proposal_response_pb2.Response(
                status=result.status, message=result.message, payload=result.payload
            )
        except SimulationError as exc:
            response = proposal_response_pb2.Response(status=500, message=f"InternalError: {exc}")
            return Simulated(response, ReadWriteSet(self.chaincode), None)
        return Simulated(response, sim.read_write_set(self.chaincode), sim.event)

    def endorse(self, proposal: UnpackedProposal, creator: Creator) -> Endorsed | Simulated:
        """An endorsement, or the bare simulation when the contract refused (never endorsed)."""
        simulated = self.simulate(proposal, creator)
        if not simulated.ok:
            return simulated
        events = (
            chaincode_event_bytes(self.chaincode, proposal.tx_id, *simulated.event)
            if simulated.event
            else b""
        )
        prp = proposal_response_payload(
            proposal.hash(),
            simulated.response,
            simulated.rwset.to_bytes(),
            events,
            self.chaincode,
            CHAINCODE_VERSION,
        )
        peer = self.peer_for(creator.msp_id)
        return Endorsed(simulated, peer, prp, endorse(prp, peer.serialized, peer.signer.sign))
