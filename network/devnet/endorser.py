"""The endorsing peer inside devnet: simulate a proposal against committed state with the
contract in-process, and sign the proposal response as an org's peer (ESCC's default rule).

Endorsements come from member orgs' `peer0` identities (NET/orgs/<org>/peers/peer0/msp), as
many as the channel's endorsement policy needs — a strict majority of the voting members' peers,
the policy `alliance network up --engine fabric` deploys — the creator's own org first, as
Fabric's gateway asks its local org first; or exactly the orgs a client names
(`endorsing_organizations`). Auditors' peers never endorse.
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
from network.devnet.world_state import CommittedState
from network.errors import DevnetError, LedgerIntegrityError
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
    """One org's peer: its serialized identity, signing key, and whether it may endorse."""

    msp_id: str
    serialized: bytes
    signer: EcdsaSigner
    voting: bool = True
    """The org has the charter role `member` (an auditor's peer validates but never endorses)."""

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
            entry.msp_id,
            serialize_identity(entry.msp_id, certs[0].read_bytes()),
            signer,
            voting="member" in entry.roles,
        )
    if not peers:
        raise DevnetError(
            f"no org in {net_dir} has a peer identity (orgs/<org>/peers/peer0/msp); "
            "re-run `alliance network init`"
        )
    return peers


@dataclass(frozen=True)
class EndorsementPolicy:
    """`OutOf(required, <each voting member's peer>)`: Fabric's signature policy, evaluated on
    the MSP ids of the valid endorsements a transaction carries. Pure."""

    voters: frozenset[str]

    @classmethod
    def of(cls, peers: dict[str, PeerIdentity]) -> EndorsementPolicy:
        voters = frozenset(m for m, p in peers.items() if p.voting) or frozenset(peers)
        return cls(voters)

    @property
    def required(self) -> int:
        return len(self.voters) // 2 + 1

    def satisfied_by(self, endorser_msp_ids: set[str]) -> bool:
        return len(endorser_msp_ids & self.voters) >= self.required


class UnknownEndorser(DevnetError):
    """A client asked for endorsements from an org that has no peer on this channel."""


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
    peers: tuple[PeerIdentity, ...]
    prp_bytes: bytes
    endorsements: tuple[proposal_response_pb2.Endorsement, ...]


class Endorser:
    def __init__(
        self,
        peers: dict[str, PeerIdentity],
        state: CommittedState,
        history: HistoryReader,
        router_factory: Callable[[], ContractRouter],
        chaincode: str,
    ) -> None:
        self.peers = peers
        self._state = state
        self._history = history
        self._router = router_factory()
        self.chaincode = chaincode
        self.policy = EndorsementPolicy.of(peers)
        self._default = peers[sorted(self.policy.voters)[0]]

    def set_peers(self, peers: dict[str, PeerIdentity]) -> None:
        """Endorse with `peers` from now on (an org's peer identity was reissued)."""
        self.peers = peers
        self._default = peers[sorted(self.policy.voters)[0]]

    def peer_for(self, msp_id: str) -> PeerIdentity:
        return self.peers.get(msp_id, self._default)

    def endorsers_for(
        self, msp_id: str, requested: tuple[str, ...] = ()
    ) -> tuple[PeerIdentity, ...]:
        """The peers that endorse a proposal of `msp_id`'s client: exactly `requested` when the
        client names orgs, else the client's own org (if it votes) and then other voting orgs in
        name order, as many as the policy needs."""
        if requested:
            unknown = sorted(set(requested) - set(self.peers))
            if unknown:
                raise UnknownEndorser(
                    f"no peer of {', '.join(unknown)} on this channel to endorse; "
                    f"peers: {', '.join(sorted(self.peers))}"
                )
            return tuple(self.peers[m] for m in dict.fromkeys(requested))
        order = sorted(self.policy.voters, key=lambda m: (m != msp_id, m))
        return tuple(self.peers[m] for m in order[: self.policy.required])

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
        except (SimulationError, LedgerIntegrityError) as exc:
            response = proposal_response_pb2.Response(status=500, message=f"InternalError: {exc}")
            return Simulated(response, ReadWriteSet(self.chaincode), None)
        return Simulated(response, sim.read_write_set(self.chaincode), sim.event)

    def endorse(
        self, proposal: UnpackedProposal, creator: Creator, requested: tuple[str, ...] = ()
    ) -> Endorsed | Simulated:
        """Endorsements, or the bare simulation when the contract refused (never endorsed)."""
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
        peers = self.endorsers_for(creator.msp_id, requested)
        return Endorsed(
            simulated, peers, prp, tuple(endorse(prp, p.serialized, p.signer.sign) for p in peers)
        )
