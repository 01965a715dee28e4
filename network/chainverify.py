"""Prove a channel's chain from its blocks alone: the auditor's `verify-chain` (pure: no I/O).

`ChainVerifier.feed(block)` takes blocks in order, as the Deliver service hands them out (from
devnet or a Fabric peer alike), and checks each one:

- `block-missing`: block numbers are contiguous from 0 (`block-undelivered`: the ledger has the
  block but refused to serve it, as devnet does when the block fails its own integrity checks);
- `chain-link`: the header's previous hash is the hash of the block before (`BlockHeaderBytes`);
- `data-hash`: the header's data hash is the hash of the block's transactions;
- `orderer-signature`: each orderer signature in the block's SIGNATURES metadata verifies
  against an orderer certificate its MSP issued (where the ledger signs blocks: Fabric does,
  devnet does not);
- per endorser transaction: `malformed` (the envelope cannot be taken apart), `creator-certificate`
  (issued by the creator's MSP, valid at the transaction's time, its org a member at that point of
  the chain, not revoked on the ledger before it), `creator-signature` (over the envelope),
  `endorsement-signature` and `endorsement-certificate` (each endorser's signature over the
  response payload and its peer certificate), `endorsement-policy` (a strict majority of the
  voting members' peers, members as the replayed ledger says at that block);
- `validation-code`: the code the ledger claims for each transaction is the code these checks and
  MVCC (re-run over the replayed state) give;
- `replay`: every valid transaction of the governance contract, run again in-process on the state
  replayed so far, writes exactly the write set, answers the payload and sets the event the block
  records.

The replayed state (`state`) is then compared with what the live ledger answers by the caller
(`world-state`), because only the peer holds its state. Findings name the block, the
transaction (index and id) and the check; the verifier keeps going after one, so one report
names every defect.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from fabric_protos.common import common_pb2
from fabric_protos.peer import chaincode_event_pb2, chaincode_pb2, proposal_pb2

from alliance.charter import Charter
from alliance.errors import AllianceError
from alliance.identity import Identity
from alliance.models import Member, MemberStatus, PendingCharter, RevokedCertificate
from alliance.msp import MspRegistry
from alliance.signing import is_low_s
from chaincode import keys
from chaincode.router import Router
from network.devnet.validation import Candidate, validate_block
from network.devnet.world_state import WorldState
from network.protoutil import (
    ENDORSER_TRANSACTION,
    MalformedMessage,
    ReadWriteSet,
    TxValidationCode,
    UnpackedTransaction,
    block_data_hash,
    block_header_bytes,
    block_header_hash,
    block_tx_filter,
    deserialize_identity,
    unpack_transaction,
    validation_code_name,
)

_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())
SIGNATURES_INDEX = common_pb2.BlockMetadataIndex.SIGNATURES

CHECKS = (
    "block-missing",
    "block-undelivered",
    "chain-link",
    "data-hash",
    "orderer-signature",
    "malformed",
    "creator-certificate",
    "creator-signature",
    "endorsement-signature",
    "endorsement-certificate",
    "endorsement-policy",
    "validation-code",
    "replay",
    "world-state",
)
"""Every check the verifier makes, by the name a finding carries."""


@dataclass(frozen=True)
class Finding:
    """One defect: where (block, transaction) and which check failed."""

    block: int
    check: str
    detail: str
    tx_index: int | None = None
    tx_id: str = ""

    def where(self) -> str:
        if self.tx_index is None:
            return f"block {self.block}"
        return f"block {self.block} tx {self.tx_index} ({self.tx_id[:16]})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "block": self.block,
            "tx_index": self.tx_index,
            "tx_id": self.tx_id,
            "check": self.check,
            "detail": self.detail,
        }


@dataclass
class ChainReport:
    height: int = 0
    transactions: int = 0
    replayed: int = 0
    orderer_signatures: int = 0
    signatures: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "height": self.height,
            "transactions": self.transactions,
            "replayed": self.replayed,
            "orderer_signatures": self.orderer_signatures,
            "signatures_verified": self.signatures,
            "findings": [f.to_dict() for f in self.findings],
        }


class ReplayStub:
    """The Stub one replayed transaction runs against: committed reads from the replayed state
    (recorded with their versions, like the endorser's simulation), buffered writes."""

    def __init__(
        self,
        state: WorldState,
        history: dict[str, list[dict[str, Any]]],
        function: str,
        args: list[str],
        tx_id: str,
        channel_id: str,
        timestamp: int,
        creator: tuple[str, bytes],
    ) -> None:
        self._state = state
        self._history = history
        self._call = (function, args)
        self._tx = (tx_id, channel_id, timestamp)
        self._creator = creator
        self.reads: dict[str, Any] = {}
        self.writes: dict[str, bytes | None] = {}
        self.event: tuple[str, bytes] | None = None

    def get_function_and_parameters(self) -> tuple[str, list[str]]:
        return self._call[0], list(self._call[1])

    def get_tx_id(self) -> str:
        return self._tx[0]

    def get_channel_id(self) -> str:
        return self._tx[1]

    def get_tx_timestamp(self) -> int:
        return self._tx[2]

    def get_creator(self) -> tuple[str, bytes]:
        return self._creator

    def get_state(self, key: str) -> bytes | None:
        entry = self._state.get(key)
        return entry[0] if entry else None

    def put_state(self, key: str, value: bytes) -> None:
        self.writes[key] = bytes(value)

    def del_state(self, key: str) -> None:
        self.writes[key] = None

    def get_state_by_range(self, start_key: str, end_key: str) -> Iterator[tuple[str, bytes]]:
        for key, value, _ in self._state.range(start_key, end_key):
            yield key, value

    def get_history_for_key(self, key: str) -> Iterator[dict[str, Any]]:
        return iter(list(reversed(self._history.get(key, []))))

    def set_event(self, name: str, payload: bytes) -> None:
        self.event = (name, bytes(payload))


@dataclass(frozen=True)
class _Tx:
    index: int
    tx_id: str
    tx: UnpackedTransaction | None
    claimed: int


class ChainVerifier:
    """Feed it every block in order; read `report` and `state` at the end."""

    def __init__(
        self,
        registry: MspRegistry,
        router_factory: Callable[[], Router],
        chaincode: str,
        channel_id: str,
    ) -> None:
        self.registry = registry
        self.router = router_factory()
        self.chaincode = chaincode
        self.channel_id = channel_id
        self.state = WorldState()
        self.history: dict[str, list[dict[str, Any]]] = {}
        self.report = ChainReport()
        self._previous_hash: bytes | None = None
        self._committed_tx_ids: set[str] = set()
        self._identities: dict[bytes, Identity] = {}

    # -- the chain ---------------------------------------------------------------------------

    def feed(self, block: common_pb2.Block) -> None:
        number = block.header.number
        expected = self.report.height
        if number != expected:
            self._find(number, "block-missing", f"expected block {expected}, got block {number}")
            self._previous_hash = None  # the link of the next block cannot be checked
        if self._previous_hash is not None and block.header.previous_hash != self._previous_hash:
            self._find(
                number,
                "chain-link",
                f"previous hash {block.header.previous_hash.hex()[:16]}… is not the hash of "
                f"block {number - 1} ({self._previous_hash.hex()[:16]}…)",
            )
        if block_data_hash(block.data.data) != block.header.data_hash:
            self._find(number, "data-hash", "the block's transactions do not hash to its data hash")
        self._check_orderer_signatures(block)
        self._previous_hash = block_header_hash(block.header)
        self.report.height = number + 1
        self._check_transactions(block)

    def missing(self, number: int, why: str = "not found") -> None:
        """The ledger could not deliver block `number` below its height: note it, go on.
        `block-missing` when it has no such block, `block-undelivered` when it refused to serve
        it (devnet does, when the block fails its own integrity checks)."""
        check = "block-missing" if why == "not found" else "block-undelivered"
        self._find(number, check, f"the ledger did not deliver block {number}: {why}")
        self.report.height = number + 1
        self._previous_hash = None

    def _check_orderer_signatures(self, block: common_pb2.Block) -> None:
        number = block.header.number
        entries = block.metadata.metadata
        if len(entries) <= SIGNATURES_INDEX or not entries[SIGNATURES_INDEX]:
            return
        try:
            metadata = common_pb2.Metadata.FromString(entries[SIGNATURES_INDEX])
        except Exception:
            self._find(number, "orderer-signature", "the SIGNATURES metadata cannot be parsed")
            return
        header = block_header_bytes(block.header)
        for index, sig in enumerate(metadata.signatures):
            if not sig.signature_header:
                continue  # BFT consenter ids name no certificate: nothing to verify here
            try:
                shdr = common_pb2.SignatureHeader.FromString(sig.signature_header)
                identity = self._identity(shdr.creator)
                self.registry.validate(identity)
                _verify(identity, metadata.value + sig.signature_header + header, sig.signature)
            except (AllianceError, MalformedMessage, InvalidSignature, ValueError) as exc:
                self._find(number, "orderer-signature", f"signature {index}: {_text(exc)}")
                continue
            self.report.orderer_signatures += 1

    # -- transactions ------------------------------------------------------------------------

    def _check_transactions(self, block: common_pb2.Block) -> None:
        number = block.header.number
        claimed_codes = block_tx_filter(block)
        txs: list[_Tx] = []
        for index, raw in enumerate(block.data.data):
            claimed = claimed_codes[index] if index < len(claimed_codes) else -1
            envelope = common_pb2.Envelope.FromString(raw)
            try:
                payload = common_pb2.Payload.FromString(envelope.payload)
                chdr = common_pb2.ChannelHeader.FromString(payload.header.channel_header)
            except Exception:
                self._find(number, "malformed", "the envelope cannot be read", index)
                continue
            if chdr.type != ENDORSER_TRANSACTION:
                continue  # config blocks: the channel's own configuration, not replayed
            self.report.transactions += 1
            try:
                tx: UnpackedTransaction | None = unpack_transaction(envelope)
            except MalformedMessage as exc:
                tx = None
                if claimed == TxValidationCode.VALID:
                    self._find(number, "malformed", str(exc), index, chdr.tx_id)
            txs.append(_Tx(index, chdr.tx_id, tx, claimed))
        candidates = [self._candidate(number, t) for t in txs]
        outcome = validate_block(
            number, [c for c, _ in candidates], self.state, frozenset(self._committed_tx_ids)
        )
        for t, code, (_, rwset) in zip(txs, outcome.codes, candidates, strict=True):
            if code != t.claimed:
                self._find(
                    number,
                    "validation-code",
                    f"the ledger claims {validation_code_name(t.claimed)}, the checks give "
                    f"{validation_code_name(code)}",
                    t.index,
                    t.tx_id,
                )
            if code == TxValidationCode.VALID and t.tx is not None and rwset is not None:
                self._replay(number, t, rwset)
            self._committed_tx_ids.add(t.tx_id)

    def _candidate(self, number: int, t: _Tx) -> tuple[Candidate, ReadWriteSet | None]:
        """What validation needs of `t`, after checking its signatures and certificates."""
        empty = ReadWriteSet(self.chaincode)
        if t.tx is None:
            code = t.claimed if t.claimed != TxValidationCode.VALID else (
                TxValidationCode.INVALID_OTHER_REASON
            )
            return Candidate(t.tx_id, empty, code=code), None
        tx = t.tx
        when = datetime.fromtimestamp(tx.channel_header.timestamp.seconds, UTC)
        creator_ok = self._check_creator(number, t, when)
        rwsets = [
            r
            for r in ReadWriteSet.from_bytes(tx.chaincode_action.results)
            if r.namespace == tx.chaincode
        ]
        rwset = rwsets[0] if rwsets else ReadWriteSet(tx.chaincode)
        endorsers = self._valid_endorsers(number, t, when)
        endorsed = self._policy_satisfied(number, t, endorsers, rwset)
        if not creator_ok:
            code = TxValidationCode.BAD_CREATOR_SIGNATURE
        elif t.claimed in _EARLIER_CODES:
            code = t.claimed  # header checks this verifier does not repeat
        else:
            code = TxValidationCode.VALID
        return Candidate(t.tx_id, rwset, endorsed=endorsed, code=code), rwset

    def _check_creator(self, number: int, t: _Tx, when: datetime) -> bool:
        assert t.tx is not None
        try:
            identity = self._identity(t.tx.creator)
        except (AllianceError, MalformedMessage, ValueError) as exc:
            self._find_in_valid(number, t, "creator-certificate", _text(exc))
            return False
        problem = self._certificate_problem(identity, when, t.tx.chaincode)
        if problem:
            self._find_in_valid(number, t, "creator-certificate", problem)
            return False
        try:
            _verify(identity, t.tx.envelope.payload, t.tx.envelope.signature)
        except (InvalidSignature, ValueError) as exc:
            self._find_in_valid(number, t, "creator-signature", _text(exc))
            return False
        self.report.signatures += 1
        return True

    def _valid_endorsers(self, number: int, t: _Tx, when: datetime) -> set[str]:
        assert t.tx is not None
        found: set[str] = set()
        for e_index, endorsement in enumerate(t.tx.endorsements):
            try:
                identity = self._identity(endorsement.endorser)
            except (AllianceError, MalformedMessage, ValueError) as exc:
                self._find_in_valid(number, t, "endorsement-certificate", _text(exc))
                continue
            problem = self._certificate_problem(identity, when, "", peer=True)
            if problem:
                self._find_in_valid(
                    number, t, "endorsement-certificate",
                    f"endorsement {e_index} ({identity.msp_id}): {problem}",
                )
                continue
            try:
                _verify(identity, t.tx.prp_bytes + endorsement.endorser, endorsement.signature)
            except (InvalidSignature, ValueError) as exc:
                self._find_in_valid(
                    number, t, "endorsement-signature",
                    f"endorsement {e_index} ({identity.msp_id}): {_text(exc)}",
                )
                continue
            self.report.signatures += 1
            found.add(identity.msp_id)
        return found

    def _find_in_valid(self, number: int, t: _Tx, check: str, detail: str) -> None:
        """A failed signature or certificate check is a finding where the ledger claims the
        transaction VALID; where it claims it invalid (e.g. a forged endorsement committed as
        ENDORSEMENT_POLICY_FAILURE) the failure is expected, and the validation-code check
        compares the code these checks give with the ledger's."""
        if t.claimed == TxValidationCode.VALID:
            self._find(number, check, detail, t.index, t.tx_id)

    def _policy_satisfied(
        self, number: int, t: _Tx, endorsers: set[str], rwset: ReadWriteSet
    ) -> bool:
        assert t.tx is not None
        if t.tx.chaincode != self.chaincode:
            return bool(endorsers)  # system chaincodes (e.g. _lifecycle): their own policies
        voters = self.voters() or _founding_voters(rwset)
        required = len(voters) // 2 + 1
        if len(endorsers & voters) >= required:
            return True
        if t.claimed == TxValidationCode.VALID:
            self._find(
                number,
                "endorsement-policy",
                f"{len(endorsers & voters)} valid endorsement(s) of voting members "
                f"({', '.join(sorted(endorsers & voters)) or 'none'}); the policy needs "
                f"{required} of {', '.join(sorted(voters))}",
                t.index,
                t.tx_id,
            )
        return False

    def _certificate_problem(
        self, identity: Identity, when: datetime, chaincode: str, *, peer: bool = False
    ) -> str:
        """Why `identity` could not sign at `when`, or ''."""
        try:
            self.registry.validate(identity, when)
        except AllianceError as exc:
            return _text(exc)
        if peer and identity.role != "peer":
            return f"an endorsement must come from a peer certificate, not a {identity.role} one"
        members = self.members()
        if not members or (chaincode and chaincode != self.chaincode):
            return ""  # before the charter, membership is the founding charter's own check
        member = next((m for m in members if m.msp_id == identity.msp_id), None)
        if member is None:
            return f"{identity.msp_id} is not a member of the alliance at this block"
        if member.status != MemberStatus.ACTIVE:
            return f"{member.org} was removed from the alliance at {member.removed_at}"
        entry = self.state.get(keys.revoked_cert(member.org, identity.fingerprint))
        revoked = RevokedCertificate.model_validate_json(entry[0]) if entry is not None else None
        if revoked is not None and revoked.in_force(int(when.timestamp())):
            return (
                f"certificate {identity.fingerprint} of {member.org} was revoked on the ledger "
                f"at {revoked.at} (tx {revoked.tx_id}), before this transaction"
            )
        return ""

    # -- membership as the replayed ledger says --------------------------------------------

    def members(self) -> list[Member]:
        start, end = keys.members_range()
        return [Member.model_validate_json(v) for _, v, _ in self.state.range(start, end)]

    def voters(self) -> set[str]:
        return {
            m.msp_id
            for m in self.members()
            if m.status == MemberStatus.ACTIVE and "member" in m.roles
        }

    # -- replay ------------------------------------------------------------------------------

    def _replay(self, number: int, t: _Tx, rwset: ReadWriteSet) -> None:
        tx = t.tx
        assert tx is not None
        if tx.chaincode != self.chaincode:
            self._apply(number, t, rwset)
            return
        try:
            function, args = _invocation(tx.cpp_bytes)
            creator = deserialize_identity(tx.creator)
        except (MalformedMessage, UnicodeDecodeError, ValueError) as exc:
            self._find(number, "replay", f"the invocation cannot be read: {exc}", t.index, t.tx_id)
            self._apply(number, t, rwset)
            return
        stub = ReplayStub(
            self.state,
            self.history,
            function,
            args,
            tx.tx_id,
            self.channel_id,
            tx.channel_header.timestamp.seconds,
            creator,
        )
        response = self.router.invoke(stub)
        self.report.replayed += 1
        action = tx.chaincode_action
        problems = []
        if not response.ok:
            problems.append(f"the contract refuses {function} on replay: {response.message}")
        elif stub.writes != rwset.writes:
            differ = sorted(set(stub.writes) ^ set(rwset.writes)) or sorted(
                k for k in stub.writes if stub.writes[k] != rwset.writes.get(k)
            )
            problems.append(
                f"{function} writes differ from the block's write set at "
                f"{len(differ)} key(s), e.g. {_printable(differ[0])}"
            )
        elif response.payload != action.response.payload:
            problems.append(f"{function} answers a different payload than the block records")
        elif stub.event != _recorded_event(action):
            problems.append(f"{function} sets a different event than the block records")
        for problem in problems:
            self._find(number, "replay", problem, t.index, t.tx_id)
        self._apply(number, t, rwset)

    def _apply(self, number: int, t: _Tx, rwset: ReadWriteSet) -> None:
        """Commit the block's write set (the ledger's, which is what later blocks read)."""
        assert t.tx is not None
        stamp = t.tx.channel_header.timestamp.seconds
        for key, value in rwset.writes.items():
            self.state.apply(key, value, (number, t.index))
            self.history.setdefault(key, []).append(
                {"tx_id": t.tx_id, "timestamp": stamp, "value": value or b"",
                 "is_delete": value is None}
            )

    # -- helpers ------------------------------------------------------------------------------

    def _identity(self, serialized: bytes) -> Identity:
        """The parsed identity (cached: a member signs many transactions with one
        certificate)."""
        identity = self._identities.get(serialized)
        if identity is None:
            msp_id, pem = deserialize_identity(serialized)
            identity = Identity(msp_id=msp_id, certificate=pem)
            identity.fingerprint  # noqa: B018 - parses the certificate (raises if unreadable)
            if len(self._identities) > 65536:
                self._identities.clear()
            self._identities[serialized] = identity
        return identity

    def _find(
        self, block: int, check: str, detail: str, tx_index: int | None = None, tx_id: str = ""
    ) -> None:
        self.report.findings.append(Finding(block, check, detail, tx_index, tx_id))


_EARLIER_CODES = frozenset(
    {
        TxValidationCode.BAD_COMMON_HEADER,
        TxValidationCode.BAD_PROPOSAL_TXID,
        TxValidationCode.INVALID_ENDORSER_TRANSACTION,
        TxValidationCode.BAD_HEADER_EXTENSION,
        TxValidationCode.EXPIRED_CHAINCODE,
    }
)
"""Codes of the committer's header checks, taken as the ledger claims them (their envelopes
still carry valid signatures, which are checked)."""


def _verify(identity: Identity, message: bytes, signature: bytes) -> None:
    if not signature:
        raise InvalidSignature("no signature")
    if not is_low_s(signature):
        raise InvalidSignature("the signature is malformed or high-S")
    key = x509.load_pem_x509_certificate(identity.certificate).public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ValueError("the certificate does not hold an EC key")
    key.verify(signature, message, _ECDSA_SHA256)


def _invocation(cpp_bytes: bytes) -> tuple[str, list[str]]:
    cpp = proposal_pb2.ChaincodeProposalPayload.FromString(cpp_bytes)
    spec = chaincode_pb2.ChaincodeInvocationSpec.FromString(cpp.input)
    args = list(spec.chaincode_spec.input.args)
    if not args:
        raise MalformedMessage("the invocation names no transaction function")
    return args[0].decode(), [a.decode() for a in args[1:]]


def _founding_voters(rwset: ReadWriteSet) -> set[str]:
    """Before the charter is in effect, the voting members are those of the founding charter the
    transaction writes: in effect (the last founder's AcceptCharter) or still pending (InitCharter
    and the other acceptances)."""
    pending_prefix = keys.pending_charters_range()[0]
    for key, value in sorted(rwset.writes.items()):
        if not value or (key != keys.CHARTER and not key.startswith(pending_prefix)):
            continue
        try:
            if key == keys.CHARTER:
                charter = Charter.model_validate_json(value)
            else:
                charter = Charter.model_validate(
                    PendingCharter.model_validate_json(value).charter)
        except ValueError:
            continue
        return {e.msp_id for e in charter.members.values() if "member" in e.roles}
    return set()


def _recorded_event(action: proposal_pb2.ChaincodeAction) -> tuple[str, bytes] | None:
    if not action.events:
        return None
    event = chaincode_event_pb2.ChaincodeEvent.FromString(action.events)
    if not event.event_name:
        return None
    return (event.event_name, event.payload)


def _printable(key: str) -> str:
    return repr(key.replace("\x00", "/").strip("/"))


def _text(exc: BaseException) -> str:
    if isinstance(exc, InvalidSignature) and not str(exc):
        return "the signature does not verify against the certificate"
    return str(exc) or type(exc).__name__


WORLD_STATE_QUERIES: tuple[tuple[str, ...], ...] = (
    ("GetCharter",),
    ("ListMembers",),
    ("ListRevokedCertificates",),
    ("ListProposals",),
    ("ListDatasets",),
    ("ListJobs",),
)
"""The contract's queries that together cover its world state, asked of the live ledger and of
the replayed state alike."""


def compare_world_state(
    verifier: ChainVerifier,
    live: Callable[..., bytes],
    creator: tuple[str, bytes],
    now: int,
) -> None:
    """Ask the live ledger (`live(function, *args)`) and the replayed state the same queries,
    as `creator`; each answer that differs is a `world-state` finding at the newest block."""
    for query in WORLD_STATE_QUERIES:
        stub = ReplayStub(
            verifier.state, verifier.history, query[0], list(query[1:]), "verify-chain",
            verifier.channel_id, now, creator,
        )
        replayed = verifier.router.invoke(stub)
        try:
            answer = live(*query)
        except Exception as exc:  # the ledger's refusal is an answer the replay must share
            answer = None
            live_text = f"refused ({type(exc).__name__})"
        else:
            live_text = "answered"
        if answer is None and not replayed.ok:
            continue
        if answer != (replayed.payload if replayed.ok else None):
            block = max(verifier.report.height - 1, 0)
            verifier.report.findings.append(
                Finding(
                    block,
                    "world-state",
                    f"{query[0]}: the ledger {live_text} differently from the state the "
                    "blocks replay to",
                )
            )
