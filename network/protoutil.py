"""Fabric's messages, built and taken apart exactly as Fabric's gateway clients and peers do.

Pure functions over `fabric_protos` (no I/O, no keys): the signed proposal of fabric-gateway's
`proposalbuilder.go` (via `protoutil.CreateChaincodeProposalWithTransient`), the prepared
transaction of the gateway's `prepareTransaction` (`internal/pkg/gateway/submit.go`), the
proposal hash of `protoutil.GetProposalHash1/2`, the endorser's proposal response payload, the
read-write set, and the block header hash of `protoutil.BlockHeaderHash` (ASN.1 DER).
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from fabric_protos.common import common_pb2
from fabric_protos.gateway import gateway_pb2
from fabric_protos.ledger.rwset import rwset_pb2
from fabric_protos.ledger.rwset.kvrwset import kv_rwset_pb2
from fabric_protos.msp import identities_pb2
from fabric_protos.peer import (
    chaincode_event_pb2,
    chaincode_pb2,
    proposal_pb2,
    proposal_response_pb2,
    transaction_pb2,
)
from google.protobuf import timestamp_pb2

NONCE_LENGTH = 24
ENDORSER_TRANSACTION = common_pb2.HeaderType.ENDORSER_TRANSACTION
CONFIG = common_pb2.HeaderType.CONFIG
TxValidationCode = transaction_pb2.TxValidationCode
VALID = TxValidationCode.VALID

Sign = Callable[[bytes], bytes]
"""Signs a SHA-256 digest (alliance.signing.Signer.sign)."""


class MalformedMessage(ValueError):
    """A message cannot be taken apart: what is missing or malformed is in the text."""


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def validation_code_name(code: int) -> str:
    try:
        return TxValidationCode.Name(code)
    except ValueError:
        return f"UNKNOWN_CODE_{code}"


# --- identities and transaction ids -----------------------------------------------------------


def serialize_identity(msp_id: str, certificate_pem: bytes) -> bytes:
    """A `msp.SerializedIdentity`: the creator/endorser bytes Fabric signs over and stores."""
    return identities_pb2.SerializedIdentity(
        mspid=msp_id, id_bytes=certificate_pem
    ).SerializeToString()


def deserialize_identity(data: bytes) -> tuple[str, bytes]:
    """(MSP id, PEM certificate) from `msp.SerializedIdentity` bytes."""
    try:
        ident = identities_pb2.SerializedIdentity.FromString(data)
    except Exception as exc:
        raise MalformedMessage(f"creator is not a serialized identity: {exc}") from exc
    if not ident.mspid or not ident.id_bytes:
        raise MalformedMessage("creator identity has no MSP id or no certificate")
    return ident.mspid, ident.id_bytes


def new_nonce() -> bytes:
    return os.urandom(NONCE_LENGTH)


def compute_tx_id(nonce: bytes, creator: bytes) -> str:
    """Fabric's transaction id: hex(sha256(nonce || serialized creator))."""
    return hashlib.sha256(nonce + creator).hexdigest()


def now_timestamp() -> timestamp_pb2.Timestamp:
    ns = time.time_ns()
    return timestamp_pb2.Timestamp(seconds=ns // 1_000_000_000, nanos=ns % 1_000_000_000)


# --- proposals --------------------------------------------------------------------------------


def create_proposal(
    channel_id: str,
    chaincode: str,
    function: str,
    args: Sequence[bytes],
    creator: bytes,
    *,
    nonce: bytes | None = None,
    timestamp: timestamp_pb2.Timestamp | None = None,
    transient: Mapping[str, bytes] | None = None,
) -> tuple[proposal_pb2.Proposal, str]:
    """An ENDORSER_TRANSACTION proposal, as fabric-gateway builds it; returns (proposal, tx id)."""
    nonce = new_nonce() if nonce is None else nonce
    tx_id = compute_tx_id(nonce, creator)
    chaincode_id = chaincode_pb2.ChaincodeID(name=chaincode)
    spec = chaincode_pb2.ChaincodeInvocationSpec(
        chaincode_spec=chaincode_pb2.ChaincodeSpec(
            type=chaincode_pb2.ChaincodeSpec.Type.NODE,
            chaincode_id=chaincode_id,
            input=chaincode_pb2.ChaincodeInput(args=[function.encode(), *args]),
        )
    )
    cpp = proposal_pb2.ChaincodeProposalPayload(
        input=spec.SerializeToString(), TransientMap=dict(transient or {})
    )
    channel_header = common_pb2.ChannelHeader(
        type=ENDORSER_TRANSACTION,
        tx_id=tx_id,
        timestamp=timestamp or now_timestamp(),
        channel_id=channel_id,
        extension=proposal_pb2.ChaincodeHeaderExtension(
            chaincode_id=chaincode_id
        ).SerializeToString(),
        epoch=0,
    )
    header = common_pb2.Header(
        channel_header=channel_header.SerializeToString(),
        signature_header=common_pb2.SignatureHeader(
            creator=creator, nonce=nonce
        ).SerializeToString(),
    )
    proposal = proposal_pb2.Proposal(
        header=header.SerializeToString(), payload=cpp.SerializeToString()
    )
    return proposal, tx_id


def sign_proposal(proposal_bytes: bytes, sign: Sign) -> proposal_pb2.SignedProposal:
    return proposal_pb2.SignedProposal(
        proposal_bytes=proposal_bytes, signature=sign(sha256(proposal_bytes))
    )


def proposal_hash(
    channel_header: bytes, signature_header: bytes, cpp_without_transient: bytes
) -> bytes:
    """`protoutil.GetProposalHash2`: what the endorsement binds the transaction to."""
    h = hashlib.sha256()
    h.update(channel_header)
    h.update(signature_header)
    h.update(cpp_without_transient)
    return h.digest()


def cpp_without_transient(cpp: proposal_pb2.ChaincodeProposalPayload) -> bytes:
    """The chaincode proposal payload as it goes into a transaction (transient data dropped)."""
    return proposal_pb2.ChaincodeProposalPayload(input=cpp.input).SerializeToString()


def _parse(cls, data: bytes, what: str):
    try:
        return cls.FromString(data)
    except Exception as exc:
        raise MalformedMessage(f"{what} is malformed: {exc}") from exc


@dataclass(frozen=True)
class UnpackedProposal:
    """A signed proposal taken apart, with everything validation and simulation need."""

    signed: proposal_pb2.SignedProposal
    header: common_pb2.Header
    channel_header: common_pb2.ChannelHeader
    signature_header: common_pb2.SignatureHeader
    cpp: proposal_pb2.ChaincodeProposalPayload
    chaincode: str
    function: str
    args: tuple[bytes, ...]

    @property
    def tx_id(self) -> str:
        return self.channel_header.tx_id

    @property
    def channel_id(self) -> str:
        return self.channel_header.channel_id

    @property
    def creator(self) -> bytes:
        return self.signature_header.creator

    @property
    def nonce(self) -> bytes:
        return self.signature_header.nonce

    @property
    def timestamp(self) -> int:
        """Seconds since the epoch, from the channel header."""
        return self.channel_header.timestamp.seconds

    def hash(self) -> bytes:
        return proposal_hash(
            self.header.channel_header,
            self.header.signature_header,
            cpp_without_transient(self.cpp),
        )


def unpack_proposal(signed: proposal_pb2.SignedProposal) -> UnpackedProposal:
    """Take a signed proposal apart (`protoutil` Unmarshal* and the endorser's UnpackProposal)."""
    if not signed.proposal_bytes:
        raise MalformedMessage("a signed proposal is required")
    proposal = _parse(proposal_pb2.Proposal, signed.proposal_bytes, "proposal")
    header = _parse(common_pb2.Header, proposal.header, "proposal header")
    channel_header = _parse(common_pb2.ChannelHeader, header.channel_header, "channel header")
    signature_header = _parse(
        common_pb2.SignatureHeader, header.signature_header, "signature header"
    )
    if channel_header.type not in (ENDORSER_TRANSACTION, CONFIG):  # as the endorser's Validate
        raise MalformedMessage(
            f"invalid header type {common_pb2.HeaderType.Name(channel_header.type)}"
        )
    cpp = _parse(
        proposal_pb2.ChaincodeProposalPayload, proposal.payload, "chaincode proposal payload"
    )
    spec = _parse(chaincode_pb2.ChaincodeInvocationSpec, cpp.input, "chaincode invocation spec")
    ext = _parse(
        proposal_pb2.ChaincodeHeaderExtension, channel_header.extension, "header extension"
    )
    name = spec.chaincode_spec.chaincode_id.name
    if not name:
        raise MalformedMessage(
            f"no chaincode name is provided, channel id [{channel_header.channel_id}]"
        )
    if ext.chaincode_id.name != name:
        raise MalformedMessage(
            f"chaincode name in the header ({ext.chaincode_id.name!r}) differs from the "
            f"invocation ({name!r})"
        )
    args = tuple(spec.chaincode_spec.input.args)
    if not args:
        raise MalformedMessage("the invocation names no transaction function")
    try:
        function = args[0].decode()
    except UnicodeDecodeError as exc:
        raise MalformedMessage("the transaction function name is not UTF-8") from exc
    return UnpackedProposal(
        signed=signed,
        header=header,
        channel_header=channel_header,
        signature_header=signature_header,
        cpp=cpp,
        chaincode=name,
        function=function,
        args=args[1:],
    )


# --- endorsement ------------------------------------------------------------------------------


def chaincode_event_bytes(chaincode: str, tx_id: str, name: str, payload: bytes) -> bytes:
    return chaincode_event_pb2.ChaincodeEvent(
        chaincode_id=chaincode, tx_id=tx_id, event_name=name, payload=payload
    ).SerializeToString()


def proposal_response_payload(
    prop_hash: bytes,
    response: proposal_response_pb2.Response,
    results: bytes,
    events: bytes,
    chaincode: str,
    version: str,
) -> bytes:
    """`protoutil.GetBytesProposalResponsePayload`: what every endorser signs."""
    action = proposal_pb2.ChaincodeAction(
        results=results,
        events=events,
        response=response,
        chaincode_id=chaincode_pb2.ChaincodeID(name=chaincode, version=version),
    )
    return proposal_response_pb2.ProposalResponsePayload(
        proposal_hash=prop_hash, extension=action.SerializeToString()
    ).SerializeToString()


def endorse(prp_bytes: bytes, endorser: bytes, sign: Sign) -> proposal_response_pb2.Endorsement:
    """The default ESCC: sign(payload || endorser identity)."""
    return proposal_response_pb2.Endorsement(
        endorser=endorser, signature=sign(sha256(prp_bytes + endorser))
    )


def prepare_transaction(
    proposal: UnpackedProposal,
    prp_bytes: bytes,
    endorsements: Iterable[proposal_response_pb2.Endorsement],
) -> common_pb2.Envelope:
    """The unsigned Envelope the gateway returns from Endorse (`prepareTransaction`)."""
    action = transaction_pb2.ChaincodeEndorsedAction(
        proposal_response_payload=prp_bytes, endorsements=list(endorsements)
    )
    cap = transaction_pb2.ChaincodeActionPayload(
        chaincode_proposal_payload=cpp_without_transient(proposal.cpp), action=action
    )
    tx = transaction_pb2.Transaction(
        actions=[
            transaction_pb2.TransactionAction(
                header=proposal.header.signature_header, payload=cap.SerializeToString()
            )
        ]
    )
    payload = common_pb2.Payload(header=proposal.header, data=tx.SerializeToString())
    return common_pb2.Envelope(payload=payload.SerializeToString())


def sign_envelope(envelope: common_pb2.Envelope, sign: Sign) -> common_pb2.Envelope:
    return common_pb2.Envelope(payload=envelope.payload, signature=sign(sha256(envelope.payload)))


@dataclass(frozen=True)
class UnpackedTransaction:
    """An endorser transaction envelope taken apart (the committer's view of it)."""

    envelope: common_pb2.Envelope
    header: common_pb2.Header
    channel_header: common_pb2.ChannelHeader
    signature_header: common_pb2.SignatureHeader
    action_header: bytes
    cpp_bytes: bytes
    prp_bytes: bytes
    proposal_hash: bytes
    chaincode_action: proposal_pb2.ChaincodeAction
    endorsements: tuple[proposal_response_pb2.Endorsement, ...]

    @property
    def tx_id(self) -> str:
        return self.channel_header.tx_id

    @property
    def creator(self) -> bytes:
        return self.signature_header.creator

    @property
    def chaincode(self) -> str:
        return self.chaincode_action.chaincode_id.name

    def expected_proposal_hash(self) -> bytes:
        return proposal_hash(
            self.header.channel_header, self.header.signature_header, self.cpp_bytes
        )


def unpack_transaction(envelope: common_pb2.Envelope) -> UnpackedTransaction:
    """Take an endorser transaction envelope apart; raise MalformedMessage on any defect."""
    if not envelope.payload:
        raise MalformedMessage("the envelope has no payload")
    payload = _parse(common_pb2.Payload, envelope.payload, "envelope payload")
    header = payload.header
    channel_header = _parse(common_pb2.ChannelHeader, header.channel_header, "channel header")
    signature_header = _parse(
        common_pb2.SignatureHeader, header.signature_header, "signature header"
    )
    if channel_header.type != ENDORSER_TRANSACTION:
        raise MalformedMessage(
            f"invalid header type {channel_header.type}: not an endorser transaction"
        )
    tx = _parse(transaction_pb2.Transaction, payload.data, "transaction")
    if len(tx.actions) != 1:
        raise MalformedMessage(f"a transaction must hold exactly one action, not {len(tx.actions)}")
    action = tx.actions[0]
    cap = _parse(transaction_pb2.ChaincodeActionPayload, action.payload, "chaincode action payload")
    prp = _parse(
        proposal_response_pb2.ProposalResponsePayload,
        cap.action.proposal_response_payload,
        "proposal response payload",
    )
    cc_action = _parse(proposal_pb2.ChaincodeAction, prp.extension, "chaincode action")
    return UnpackedTransaction(
        envelope=envelope,
        header=header,
        channel_header=channel_header,
        signature_header=signature_header,
        action_header=action.header,
        cpp_bytes=cap.chaincode_proposal_payload,
        prp_bytes=cap.action.proposal_response_payload,
        proposal_hash=prp.proposal_hash,
        chaincode_action=cc_action,
        endorsements=tuple(cap.action.endorsements),
    )


def transaction_result(envelope: common_pb2.Envelope) -> bytes:
    """The contract's response payload inside a prepared transaction (the submit result)."""
    return unpack_transaction(envelope).chaincode_action.response.payload


def transaction_event(envelope: common_pb2.Envelope) -> chaincode_event_pb2.ChaincodeEvent | None:
    events = unpack_transaction(envelope).chaincode_action.events
    if not events:
        return None
    return _parse(chaincode_event_pb2.ChaincodeEvent, events, "chaincode event")


# --- read-write sets --------------------------------------------------------------------------

Version = tuple[int, int]
"""(block number, transaction number) of the committed write a read saw."""


@dataclass(frozen=True)
class RangeRead:
    """A range scan as simulated: [start, end), whether it ran to the end, what it saw."""

    start_key: str
    end_key: str
    exhausted: bool
    reads: tuple[tuple[str, Version | None], ...]


@dataclass
class ReadWriteSet:
    """One namespace's reads (key → version or None), range reads, and writes (None = delete)."""

    namespace: str
    reads: dict[str, Version | None] = field(default_factory=dict)
    range_reads: list[RangeRead] = field(default_factory=list)
    writes: dict[str, bytes | None] = field(default_factory=dict)

    def to_bytes(self) -> bytes:
        """A `rwset.TxReadWriteSet` (KV data model), keys sorted as Fabric's rwset builder does."""
        kv = kv_rwset_pb2.KVRWSet()
        for key in sorted(self.reads):
            version = self.reads[key]
            read = kv.reads.add(key=key)
            if version is not None:
                read.version.block_num, read.version.tx_num = version
        for rr in self.range_reads:
            info = kv.range_queries_info.add(
                start_key=rr.start_key, end_key=rr.end_key, itr_exhausted=rr.exhausted
            )
            for key, version in rr.reads:
                read = info.raw_reads.kv_reads.add(key=key)
                if version is not None:
                    read.version.block_num, read.version.tx_num = version
        for key in sorted(self.writes):
            value = self.writes[key]
            kv.writes.add(key=key, is_delete=value is None, value=value or b"")
        tx = rwset_pb2.TxReadWriteSet(data_model=rwset_pb2.TxReadWriteSet.DataModel.KV)
        tx.ns_rwset.add(namespace=self.namespace, rwset=kv.SerializeToString())
        return tx.SerializeToString()

    @classmethod
    def from_bytes(cls, data: bytes) -> list[ReadWriteSet]:
        """Every namespace's read-write set in a `rwset.TxReadWriteSet`."""
        if not data:
            return []
        tx = _parse(rwset_pb2.TxReadWriteSet, data, "read-write set")
        out = []
        for ns in tx.ns_rwset:
            kv = _parse(kv_rwset_pb2.KVRWSet, ns.rwset, f"read-write set of {ns.namespace}")
            rws = cls(namespace=ns.namespace)
            for read in kv.reads:
                rws.reads[read.key] = _version(read)
            for info in kv.range_queries_info:
                rws.range_reads.append(
                    RangeRead(
                        start_key=info.start_key,
                        end_key=info.end_key,
                        exhausted=info.itr_exhausted,
                        reads=tuple((r.key, _version(r)) for r in info.raw_reads.kv_reads),
                    )
                )
            for write in kv.writes:
                rws.writes[write.key] = None if write.is_delete else write.value
            out.append(rws)
        return out


def _version(read: kv_rwset_pb2.KVRead) -> Version | None:
    if not read.HasField("version"):
        return None
    return (read.version.block_num, read.version.tx_num)


# --- blocks -----------------------------------------------------------------------------------


def _der_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _der(tag: int, body: bytes) -> bytes:
    return bytes([tag]) + _der_length(len(body)) + body


def _der_integer(n: int) -> bytes:
    body = n.to_bytes(max(1, (n.bit_length() + 8) // 8), "big")  # room for the sign bit
    return _der(0x02, body)


def block_header_bytes(header: common_pb2.BlockHeader) -> bytes:
    """`protoutil.BlockHeaderBytes`: ASN.1 DER SEQUENCE { number, previous_hash, data_hash }."""
    body = (
        _der_integer(header.number)
        + _der(0x04, header.previous_hash)
        + _der(0x04, header.data_hash)
    )
    return _der(0x30, body)


def block_header_hash(header: common_pb2.BlockHeader) -> bytes:
    return sha256(block_header_bytes(header))


def block_data_hash(data: Sequence[bytes]) -> bytes:
    """`protoutil.ComputeBlockDataHash`: sha256 of the concatenated envelopes."""
    return sha256(b"".join(data))


def new_block(
    number: int, previous_hash: bytes, envelopes: Sequence[bytes], tx_filter: Sequence[int]
) -> common_pb2.Block:
    """A block with its data hash, and validation codes in metadata TRANSACTIONS_FILTER."""
    if len(envelopes) != len(tx_filter):
        raise ValueError("one validation code per transaction is required")
    block = common_pb2.Block(
        header=common_pb2.BlockHeader(
            number=number, previous_hash=previous_hash, data_hash=block_data_hash(envelopes)
        ),
        data=common_pb2.BlockData(data=list(envelopes)),
    )
    metadata = [b""] * len(common_pb2.BlockMetadataIndex.items())
    metadata[common_pb2.BlockMetadataIndex.TRANSACTIONS_FILTER] = bytes(tx_filter)
    block.metadata.metadata.extend(metadata)
    return block


def block_tx_filter(block: common_pb2.Block) -> bytes:
    return block.metadata.metadata[common_pb2.BlockMetadataIndex.TRANSACTIONS_FILTER]


def config_envelope(channel_id: str, timestamp: timestamp_pb2.Timestamp | None = None) -> bytes:
    """The genesis transaction: a CONFIG envelope naming the channel (devnet has no config tree)."""
    header = common_pb2.Header(
        channel_header=common_pb2.ChannelHeader(
            type=CONFIG, channel_id=channel_id, timestamp=timestamp or now_timestamp()
        ).SerializeToString()
    )
    return common_pb2.Envelope(
        payload=common_pb2.Payload(header=header).SerializeToString()
    ).SerializeToString()


# --- signed gateway requests ------------------------------------------------------------------


def signed_commit_status_request(
    channel_id: str, tx_id: str, identity: bytes, sign: Sign
) -> gateway_pb2.SignedCommitStatusRequest:
    request = gateway_pb2.CommitStatusRequest(
        transaction_id=tx_id, channel_id=channel_id, identity=identity
    ).SerializeToString()
    return gateway_pb2.SignedCommitStatusRequest(request=request, signature=sign(sha256(request)))


def signed_chaincode_events_request(
    channel_id: str,
    chaincode: str,
    identity: bytes,
    sign: Sign,
    *,
    start_block: int | None = None,
    after_tx_id: str = "",
) -> gateway_pb2.SignedChaincodeEventsRequest:
    request = gateway_pb2.ChaincodeEventsRequest(
        channel_id=channel_id, chaincode_id=chaincode, identity=identity
    )
    if start_block is None:
        request.start_position.next_commit.SetInParent()
    else:
        request.start_position.specified.number = start_block
    if after_tx_id:
        request.after_transaction_id = after_tx_id
    data = request.SerializeToString()
    return gateway_pb2.SignedChaincodeEventsRequest(request=data, signature=sign(sha256(data)))
