"""What Fabric checks of one submitted transaction before MVCC: the orderer at broadcast, the
committing peer's `ValidateTransaction`, and its VSCC (every endorsement's signature).

Broadcast (the orderer's StandardChannel filters): the envelope parses, names an existing
channel, its creator is a valid identity of a channel MSP that the channel's Writers policy
names, its certificate has not expired, and its signature verifies. A refusal there is an answer
to Submit (`Rejected`); nothing is ordered.

Everything else Fabric checks at commit, so a transaction that passes broadcast is ordered and
committed with a validation code: BAD_COMMON_HEADER (epoch, nonce, header type),
BAD_PROPOSAL_TXID, INVALID_ENDORSER_TRANSACTION (proposal hash, action header), BAD_RWSET,
ILLEGAL_WRITESET, and ENDORSEMENT_POLICY_FAILURE when the endorsements whose signatures verify do
not satisfy the endorsement policy.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass

from fabric_protos.common import common_pb2
from fabric_protos.peer import proposal_response_pb2

from network.devnet import acl
from network.devnet.acl import ChannelAcl, PolicyNotSatisfied
from network.devnet.endorser import EndorsementPolicy, PeerIdentity
from network.devnet.msp import (
    AccessDenied,
    Creator,
    CreatorValidator,
    certificate_expired,
    verify_signature,
)
from network.protoutil import (
    ENDORSER_TRANSACTION,
    MalformedMessage,
    ReadWriteSet,
    TxValidationCode,
    UnpackedTransaction,
    compute_tx_id,
    sha256,
    unpack_transaction,
)

VALID = TxValidationCode.VALID
ISSUED_LIMIT = 200_000
"""Signatures devnet made itself, remembered so their verification can be skipped at commit."""


class Rejected(Exception):
    """A request refused by a rule; `kind` tells the service which gRPC status to use."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind  # "invalid", "forbidden", "bad_request", "not_found", "unavailable"
        self.message = message


@dataclass(frozen=True)
class Broadcast:
    """The envelope as the orderer saw it: its headers and its validated creator."""

    channel_header: common_pb2.ChannelHeader
    signature_header: common_pb2.SignatureHeader
    creator: Creator


def check_broadcast(
    envelope: common_pb2.Envelope, validator: CreatorValidator, channel: ChannelAcl
) -> Broadcast:
    """The orderer's filters for a normal message; Rejected when it refuses the envelope."""
    if not envelope.signature:
        raise Rejected("invalid", "prepared transaction must be signed")
    try:
        payload = common_pb2.Payload.FromString(envelope.payload)
        if not payload.HasField("header"):
            raise ValueError("envelope has no header")
        chdr = common_pb2.ChannelHeader.FromString(payload.header.channel_header)
        shdr = common_pb2.SignatureHeader.FromString(payload.header.signature_header)
    except Exception as exc:
        raise Rejected("bad_request", f"bad payload or header: {exc}") from exc
    if chdr.channel_id != channel.channel_id:
        raise Rejected("bad_request", f"channel does not exist: '{chdr.channel_id}'")
    if chdr.type in (common_pb2.HeaderType.CONFIG, common_pb2.HeaderType.ORDERER_TRANSACTION):
        raise Rejected(
            "bad_request",
            f"message of type {common_pb2.HeaderType.Name(chdr.type)} cannot be processed directly",
        )
    if certificate_expired(shdr.creator, time.time()):
        raise Rejected("bad_request", "broadcast client identity expired")
    try:
        creator = validator.creator(shdr.creator)
        channel.check(acl.BROADCAST, creator.msp_id, creator.identity.role)
        verify_signature(creator.public_key, envelope.payload, envelope.signature, "envelope")
    except (AccessDenied, PolicyNotSatisfied) as exc:
        raise Rejected("forbidden", f"SigFilter evaluation failed: {exc}") from exc
    return Broadcast(chdr, shdr, creator)


def header_code(chdr: common_pb2.ChannelHeader, shdr: common_pb2.SignatureHeader) -> int:
    """Fabric's `validateCommonHeader`: BAD_COMMON_HEADER, or VALID."""
    if chdr.type != ENDORSER_TRANSACTION or chdr.epoch != 0:
        return TxValidationCode.BAD_COMMON_HEADER
    if not shdr.nonce or not shdr.creator:
        return TxValidationCode.BAD_COMMON_HEADER
    return VALID


@dataclass(frozen=True)
class Checked:
    """A transaction the committer validated up to MVCC."""

    code: int
    tx_id: str
    tx: UnpackedTransaction | None
    rwset: ReadWriteSet


def committer_checks(envelope: common_pb2.Envelope, seen: Broadcast, chaincode: str) -> Checked:
    """`ValidateTransaction` and the action checks, in Fabric's order; the first failing code."""
    chdr, shdr = seen.channel_header, seen.signature_header
    empty = ReadWriteSet(chaincode)

    def invalid(code: int) -> Checked:
        return Checked(code, chdr.tx_id, None, empty)

    code = header_code(chdr, shdr)
    if code != VALID:
        return invalid(code)
    if compute_tx_id(shdr.nonce, shdr.creator) != chdr.tx_id:
        return invalid(TxValidationCode.BAD_PROPOSAL_TXID)
    try:
        tx = unpack_transaction(envelope)
    except MalformedMessage:
        return invalid(TxValidationCode.INVALID_ENDORSER_TRANSACTION)
    if tx.action_header != tx.header.signature_header:
        return invalid(TxValidationCode.INVALID_ENDORSER_TRANSACTION)
    if tx.proposal_hash != tx.expected_proposal_hash():
        return invalid(TxValidationCode.INVALID_ENDORSER_TRANSACTION)
    if tx.chaincode != chaincode:
        return invalid(TxValidationCode.INVALID_CHAINCODE)
    try:
        namespaces = ReadWriteSet.from_bytes(tx.chaincode_action.results)
    except MalformedMessage:
        return invalid(TxValidationCode.BAD_RWSET)
    rwset = empty
    for ns in namespaces:
        if ns.namespace != chaincode:
            return invalid(TxValidationCode.ILLEGAL_WRITESET)
        rwset = ns
    return Checked(VALID, chdr.tx_id, tx, rwset)


class EndorsementCheck:
    """Fabric's VSCC: count the endorsements whose signature verifies, by the voting member
    whose peer made them, and evaluate the endorsement policy on them.

    Every signature is verified except one devnet made itself at Endorse on the identical
    endorser, signature and payload bytes (`remember`): devnet's own signature over those
    exact bytes is known good. For bench/ledger.py's before/after figures only (never to serve
    clients): `trust_issued=False` verifies devnet's own signatures too, and `verify=False`
    restores the old behaviour (trust every endorsement naming a known peer)."""

    def __init__(self, peers: dict[str, PeerIdentity], policy: EndorsementPolicy) -> None:
        self._peers = {p.serialized: p for p in peers.values()}
        self._policy = policy
        self._issued: OrderedDict[bytes, None] = OrderedDict()
        self.verify = True
        self.trust_issued = True
        self.verified = 0
        """Signatures verified so far (the benchmark reads it)."""

    def known_peers(self) -> list[PeerIdentity]:
        return list(self._peers.values())

    def set_peers(self, peers: list[PeerIdentity]) -> None:
        """Accept endorsements of `peers` (those it already issued stay remembered)."""
        self._peers = {p.serialized: p for p in peers}

    @staticmethod
    def _key(payload_hash: bytes, endorsement: proposal_response_pb2.Endorsement) -> bytes:
        return sha256(payload_hash + sha256(endorsement.endorser) + endorsement.signature)

    def remember(
        self, prp_bytes: bytes, endorsements: tuple[proposal_response_pb2.Endorsement, ...]
    ) -> None:
        if not self.verify:
            return
        payload_hash = sha256(prp_bytes)
        for e in endorsements:
            self._issued[self._key(payload_hash, e)] = None
        while len(self._issued) > ISSUED_LIMIT:
            self._issued.popitem(last=False)

    def satisfied(self, tx: UnpackedTransaction) -> bool:
        payload_hash = sha256(tx.prp_bytes)
        endorsers: set[str] = set()
        for e in tx.endorsements:
            peer = self._peers.get(e.endorser)
            if peer is None:
                continue
            issued = self._issued.pop(self._key(payload_hash, e), False) is None
            if self.verify and not (issued and self.trust_issued):
                self.verified += 1
                try:
                    verify_signature(
                        peer.public_key, tx.prp_bytes + e.endorser, e.signature, "endorsement"
                    )
                except AccessDenied:
                    continue
            endorsers.add(peer.msp_id)
        return self._policy.satisfied_by(endorsers)
