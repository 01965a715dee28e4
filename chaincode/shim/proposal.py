"""What a transaction's SignedProposal tells the contract: who signed it and when.

Pure functions over Fabric's messages, as fabric-chaincode-go's `newChaincodeStub` takes them
apart: Proposal.header → Header{channel_header, signature_header}; the creator is the
SignatureHeader's SerializedIdentity, the timestamp the ChannelHeader's.
"""

from __future__ import annotations

from dataclasses import dataclass

from fabric_protos.common import common_pb2
from fabric_protos.msp import identities_pb2
from fabric_protos.peer import proposal_pb2
from google.protobuf.message import DecodeError

from chaincode.shim.errors import ShimError


@dataclass(frozen=True)
class ProposalInfo:
    msp_id: str
    certificate: bytes
    """PEM bytes of the signer's certificate."""
    timestamp: int
    """Seconds since the epoch, from the channel header."""


def parse_signed_proposal(signed: proposal_pb2.SignedProposal) -> ProposalInfo:
    """Creator and timestamp of a transaction; ShimError when the proposal is malformed."""
    try:
        proposal = proposal_pb2.Proposal.FromString(signed.proposal_bytes)
        header = common_pb2.Header.FromString(proposal.header)
        channel_header = common_pb2.ChannelHeader.FromString(header.channel_header)
        signature_header = common_pb2.SignatureHeader.FromString(header.signature_header)
        creator = identities_pb2.SerializedIdentity.FromString(signature_header.creator)
    except DecodeError as exc:
        raise ShimError(f"the peer sent a malformed signed proposal: {exc}") from exc
    if not creator.mspid or not creator.id_bytes:
        raise ShimError("the signed proposal names no creator (MSP id and certificate)")
    return ProposalInfo(
        msp_id=creator.mspid,
        certificate=bytes(creator.id_bytes),
        timestamp=int(channel_header.timestamp.seconds),
    )
