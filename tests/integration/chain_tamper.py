"""Forging blocks for verify-chain's tests: a transaction rebuilt and signed again with NET's real
keys (creator and endorsing peers), and the chain re-linked after it, so that exactly one check
of the verifier has something to find."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fabric_protos.common import common_pb2
from fabric_protos.peer import proposal_response_pb2

from alliance.keystore import load_private_key
from alliance.profile import load_profile
from alliance.signing import EcdsaSigner
from alliance.wallet import load_user
from network.protoutil import (
    ReadWriteSet,
    block_data_hash,
    block_header_hash,
    create_proposal,
    endorse,
    prepare_transaction,
    proposal_response_payload,
    serialize_identity,
    sign_envelope,
    sign_proposal,
    unpack_proposal,
    unpack_transaction,
)


def peer_signer(net_dir: Path, org: str) -> tuple[bytes, EcdsaSigner]:
    """(serialized identity, signer) of `org`'s peer0."""
    profile = load_profile(net_dir)
    entry = profile.orgs[org]
    msp = Path(net_dir) / entry.dir / "peers" / "peer0" / "msp"
    cert = sorted((msp / "signcerts").glob("*.pem"))[0].read_bytes()
    key = load_private_key(sorted((msp / "keystore").glob("*"))[0], None)
    return serialize_identity(entry.msp_id, cert), EcdsaSigner(key)


def forge(
    net_dir: Path,
    passphrase: bytes,
    envelope_bytes: bytes,
    *,
    creator: tuple[str, str],
    endorsers: tuple[str, ...],
    mutate_rwset: Callable[[ReadWriteSet], None] | None = None,
) -> bytes:
    """The transaction of `envelope_bytes` (same function, arguments, time, response, write
    set unless `mutate_rwset` changes it) as if `creator` (org, user) had proposed it and
    `endorsers`' peers had endorsed it: every signature valid."""
    tx = unpack_transaction(common_pb2.Envelope.FromString(envelope_bytes))
    from fabric_protos.peer import chaincode_pb2, proposal_pb2

    cpp = proposal_pb2.ChaincodeProposalPayload.FromString(tx.cpp_bytes)
    spec = chaincode_pb2.ChaincodeInvocationSpec.FromString(cpp.input)
    args = list(spec.chaincode_spec.input.args)
    identity, signer = load_user(net_dir, creator[0], creator[1], passphrase)
    serialized = serialize_identity(identity.msp_id, identity.certificate)
    proposal, _ = create_proposal(
        tx.channel_header.channel_id,
        tx.chaincode,
        args[0].decode(),
        args[1:],
        serialized,
        timestamp=tx.channel_header.timestamp,
    )
    unpacked = unpack_proposal(sign_proposal(proposal.SerializeToString(), signer.sign))
    action = tx.chaincode_action
    rwset = ReadWriteSet.from_bytes(action.results)[0]
    if mutate_rwset is not None:
        mutate_rwset(rwset)
    prp = proposal_response_payload(
        unpacked.hash(),
        proposal_response_pb2.Response(
            status=action.response.status,
            message=action.response.message,
            payload=action.response.payload,
        ),
        rwset.to_bytes(),
        action.events,
        tx.chaincode,
        action.chaincode_id.version,
    )
    endorsements = []
    for org in endorsers:
        peer, peer_sign = peer_signer(net_dir, org)
        endorsements.append(endorse(prp, peer, peer_sign.sign))
    envelope = prepare_transaction(unpacked, prp, endorsements)
    return sign_envelope(envelope, signer.sign).SerializeToString()


def replace_tx(blocks: list[common_pb2.Block], number: int, index: int, envelope: bytes) -> None:
    """Put `envelope` at (block, index), fix that block's data hash and re-link the chain."""
    block = blocks[number]
    block.data.data[index] = envelope
    block.header.data_hash = block_data_hash(block.data.data)
    relink(blocks, number)


def relink(blocks: list[common_pb2.Block], start: int) -> None:
    for later in range(start + 1, len(blocks)):
        blocks[later].header.previous_hash = block_header_hash(blocks[later - 1].header)


def copies(blocks: list[common_pb2.Block]) -> list[common_pb2.Block]:
    out = []
    for block in blocks:
        copy = common_pb2.Block()
        copy.CopyFrom(block)
        out.append(copy)
    return out
