"""The differential conformance suite: hand-built Gateway and Deliver messages, defined once, whose
answers from a real Fabric 3 peer are recorded in `conformance_oracle.json` and compared with
devnet's on every test run (tests/integration/test_conformance_devnet.py).

Each case sends one kind of message a Fabric client could send, honest or hostile, and returns
its `Answer`: the class of outcome (`ok`, `refused`, `committed:<validation code>`,
`deliver:<status>`) and the gRPC status code. Messages are compared by class and code only; the
texts differ between implementations and are kept for reading.

Recording (real Fabric binaries needed):
    CONFORMANCE_RECORD=1 FABRIC_BIN_DIR=... pytest tests/fabric/test_conformance_fabric.py
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from fabric_protos.common import common_pb2
from fabric_protos.gateway import gateway_pb2
from fabric_protos.ledger.rwset import rwset_pb2
from fabric_protos.ledger.rwset.kvrwset import kv_rwset_pb2
from fabric_protos.orderer import ab_pb2
from fabric_protos.peer import (
    events_pb2_grpc,
    proposal_pb2,
    proposal_response_pb2,
    transaction_pb2,
)
from google.protobuf import timestamp_pb2

from alliance.identity import Identity
from alliance.keystore import load_private_key
from alliance.network_init import CertificateAuthority, cert_pem, new_key
from alliance.profile import load_profile
from alliance.signing import P256_ORDER, EcdsaSigner
from alliance.wallet import load_user
from network.deliver import BlockReader, block_transactions, seek_envelope
from network.gateway import Gateway, connect
from network.protoutil import (
    compute_tx_id,
    create_proposal,
    serialize_identity,
    sha256,
    sign_proposal,
    signed_chaincode_events_request,
    signed_commit_status_request,
    validation_code_name,
)

ORACLE = Path(__file__).parent / "conformance_oracle.json"
RECORD_ENV = "CONFORMANCE_RECORD"
CALL_TIMEOUT = 60.0
EVENTS_WAIT = 15.0


@dataclass(frozen=True)
class Answer:
    answer: str
    grpc: str
    message: str = field(default="", compare=False)

    def key(self) -> tuple[str, str]:
        return (self.answer, self.grpc)


OK = Answer("ok", "OK")


# --- the target ------------------------------------------------------------------------------


class Harness:
    """One ledger (Fabric's bank peer, or devnet) and the alliance's identities, for the cases."""

    def __init__(self, net_dir: Path, passphrase: bytes, address: str, tls_root: bytes) -> None:
        self.net_dir = Path(net_dir)
        self.passphrase = passphrase
        self.address = address
        self.tls_root = tls_root
        profile = load_profile(self.net_dir)
        self.channel = profile.channel
        self.chaincode = profile.chaincode
        self.msp = {org: entry.msp_id for org, entry in profile.orgs.items()}
        self._committed: tuple[str, int] | None = None

    def connect(self, identity: Identity, signer: object) -> Gateway:
        return connect(self.address, identity=identity, signer=signer, tls_root_certs=self.tls_root)  # type: ignore[arg-type]

    def user(self, org: str = "bank", name: str = "admin") -> tuple[Identity, EcdsaSigner]:
        return load_user(self.net_dir, org, name, self.passphrase)

    def gateway(self, org: str = "bank", name: str = "admin") -> Gateway:
        return self.connect(*self.user(org, name))

    def ca(self, org: str) -> CertificateAuthority:
        ca_dir = self.net_dir / "orgs" / org / "ca"
        cert = x509.load_pem_x509_certificate((ca_dir / "ca.pem").read_bytes())
        key = load_private_key(ca_dir / "ca.key", self.passphrase)
        return CertificateAuthority(cert, key)  # type: ignore[arg-type]

    def mint(
        self, org: str, ou: str | None, *, expired: bool = False
    ) -> tuple[Identity, EcdsaSigner]:
        """A certificate issued by `org`'s own CA with NodeOU `ou` (None: no OU)."""
        key = new_key()
        kw = {}
        if expired:
            kw = {
                "not_before": datetime.now(UTC) - timedelta(days=30),
                "validity": timedelta(days=1),
            }
        cert = self.ca(org).issue(
            key.public_key(),
            org=org,
            common_name=f"conformance-{uuid.uuid4().hex[:8]}",
            ou=ou,
            **kw,
        )
        return Identity(self.msp[org], cert_pem(cert)), EcdsaSigner(key)

    def foreign(self, org: str) -> tuple[Identity, EcdsaSigner]:
        """A client certificate claiming `org`'s MSP, issued by a CA that MSP never heard of."""
        ca = CertificateAuthority.create(org, f"ca.{org}")
        key = new_key()
        cert = ca.issue(key.public_key(), org=org, common_name="mallory", ou="client")
        return Identity(self.msp[org], cert_pem(cert)), EcdsaSigner(key)

    def peer_identity(self, org: str) -> bytes:
        certs = sorted(
            (self.net_dir / "orgs" / org / "peers" / "peer0" / "msp" / "signcerts").glob("*.pem")
        )
        return serialize_identity(self.msp[org], certs[0].read_bytes())

    def committed(self) -> tuple[str, int]:
        """(tx id, block number) of one transaction committed for the cases that read."""
        if self._committed is None:
            with self.gateway() as gw:
                tx_id, prepared, answer = endorse(self, gw, register_proposal(self, gw))
                assert prepared is not None, answer
                answer = submit(self, gw, tx_id, sign_env(gw, prepared))
                assert answer.answer == "committed:VALID", answer
                status = commit_status(self, gw, tx_id)
                self._committed = (tx_id, status[1])
        return self._committed


# --- building messages -----------------------------------------------------------------------


class HighS:
    """Signs correctly, then moves S to the high half: valid ECDSA that Fabric refuses."""

    def __init__(self, signer: EcdsaSigner) -> None:
        self._signer = signer

    def sign(self, digest: bytes) -> bytes:
        r, s = decode_dss_signature(self._signer.sign(digest))
        return encode_dss_signature(r, P256_ORDER - s)


def dataset_spec() -> str:
    return json.dumps(
        {
            "name": f"conf-{uuid.uuid4().hex[:12]}",
            "schema": [{"name": "id", "type": "string"}],
            "row_count": 1,
            "fingerprint": "sha256:" + "cd" * 32,
        }
    )


@dataclass
class Built:
    tx_id: str
    signed: proposal_pb2.SignedProposal
    channel: str


def build_proposal(
    h: Harness,
    gw: Gateway,
    function: str,
    args: list[str],
    *,
    channel: str | None = None,
    chaincode: str | None = None,
    epoch: int = 0,
    nonce: bytes | None = None,
    tx_id: str | None = None,
    header_type: int = common_pb2.HeaderType.ENDORSER_TRANSACTION,
    timestamp: timestamp_pb2.Timestamp | None = None,
    tamper_after_signing: bool = False,
) -> Built:
    channel = channel or h.channel
    proposal, _ = create_proposal(
        channel,
        chaincode or h.chaincode,
        function,
        [a.encode() for a in args],
        gw.creator,
        nonce=nonce,
        timestamp=timestamp,
    )
    header = common_pb2.Header.FromString(proposal.header)
    chdr = common_pb2.ChannelHeader.FromString(header.channel_header)
    chdr.epoch = epoch
    chdr.type = header_type
    if tx_id is not None:
        chdr.tx_id = tx_id
    header.channel_header = chdr.SerializeToString()
    proposal.header = header.SerializeToString()
    signed = sign_proposal(proposal.SerializeToString(), gw.sign)
    if tamper_after_signing:
        proposal.payload = proposal.payload.replace(b"conf-", b"CONF-")
        signed = proposal_pb2.SignedProposal(
            proposal_bytes=proposal.SerializeToString(), signature=signed.signature
        )
    return Built(chdr.tx_id, signed, channel)


def register_proposal(h: Harness, gw: Gateway, **kw: object) -> Built:
    return build_proposal(h, gw, "RegisterDataset", [dataset_spec()], **kw)  # type: ignore[arg-type]


def query_proposal(h: Harness, gw: Gateway, **kw: object) -> Built:
    return build_proposal(h, gw, "GetCharter", [], **kw)  # type: ignore[arg-type]


def _refused(exc: grpc.RpcError) -> Answer:
    return Answer("refused", exc.code().name, exc.details() or "")


def evaluate(h: Harness, gw: Gateway, built: Built) -> Answer:
    request = gateway_pb2.EvaluateRequest(
        transaction_id=built.tx_id, channel_id=built.channel, proposed_transaction=built.signed
    )
    try:
        gw.stub.Evaluate(request, timeout=CALL_TIMEOUT)
    except grpc.RpcError as exc:
        return _refused(exc)
    return OK


def endorse(
    h: Harness, gw: Gateway, built: Built, orgs: list[str] | None = None
) -> tuple[str, common_pb2.Envelope | None, Answer]:
    request = gateway_pb2.EndorseRequest(
        transaction_id=built.tx_id,
        channel_id=built.channel,
        proposed_transaction=built.signed,
        endorsing_organizations=orgs or [],
    )
    try:
        response = gw.stub.Endorse(request, timeout=CALL_TIMEOUT)
    except grpc.RpcError as exc:
        return built.tx_id, None, _refused(exc)
    return built.tx_id, response.prepared_transaction, OK


def sign_env(gw: Gateway, envelope: common_pb2.Envelope) -> common_pb2.Envelope:
    return common_pb2.Envelope(
        payload=envelope.payload, signature=gw.sign(sha256(envelope.payload))
    )


def commit_status(h: Harness, gw: Gateway, tx_id: str) -> tuple[int, int]:
    request = signed_commit_status_request(h.channel, tx_id, gw.creator, gw.sign)
    response = gw.stub.CommitStatus(request, timeout=CALL_TIMEOUT)
    return response.result, response.block_number


def submit(
    h: Harness,
    gw: Gateway,
    tx_id: str,
    envelope: common_pb2.Envelope,
    *,
    channel: str | None = None,
) -> Answer:
    """Submit, then wait for the commit: `committed:<code>`, or the refusal."""
    request = gateway_pb2.SubmitRequest(
        transaction_id=tx_id, channel_id=channel or h.channel, prepared_transaction=envelope
    )
    try:
        gw.stub.Submit(request, timeout=CALL_TIMEOUT)
    except grpc.RpcError as exc:
        return _refused(exc)
    try:
        code, _ = commit_status(h, gw, tx_id)
    except grpc.RpcError as exc:
        return Answer("no-commit", exc.code().name, exc.details() or "")
    return Answer(f"committed:{validation_code_name(code)}", "OK")


def endorsed(
    h: Harness, gw: Gateway, orgs: list[str] | None = None
) -> tuple[str, common_pb2.Envelope]:
    tx_id, prepared, answer = endorse(h, gw, register_proposal(h, gw), orgs)
    if prepared is None:
        raise AssertionError(f"endorsement needed by the case was refused: {answer}")
    return tx_id, prepared


# --- taking envelopes apart and back together --------------------------------------------------


@dataclass
class Parts:
    payload: common_pb2.Payload
    chdr: common_pb2.ChannelHeader
    shdr: common_pb2.SignatureHeader
    tx: transaction_pb2.Transaction
    cap: transaction_pb2.ChaincodeActionPayload
    prp: proposal_response_pb2.ProposalResponsePayload
    action: proposal_pb2.ChaincodeAction

    @classmethod
    def of(cls, envelope: common_pb2.Envelope) -> Parts:
        payload = common_pb2.Payload.FromString(envelope.payload)
        tx = transaction_pb2.Transaction.FromString(payload.data)
        cap = transaction_pb2.ChaincodeActionPayload.FromString(tx.actions[0].payload)
        prp = proposal_response_pb2.ProposalResponsePayload.FromString(
            cap.action.proposal_response_payload
        )
        return cls(
            payload,
            common_pb2.ChannelHeader.FromString(payload.header.channel_header),
            common_pb2.SignatureHeader.FromString(payload.header.signature_header),
            tx,
            cap,
            prp,
            proposal_pb2.ChaincodeAction.FromString(prp.extension),
        )

    def envelope(self, *, action: bool = False) -> common_pb2.Envelope:
        """Reassemble; `action`: re-serialise the chaincode action into the signed payload."""
        if action:
            self.prp.extension = self.action.SerializeToString()
            self.cap.action.proposal_response_payload = self.prp.SerializeToString()
        self.tx.actions[0].payload = self.cap.SerializeToString()
        self.payload.header.channel_header = self.chdr.SerializeToString()
        self.payload.header.signature_header = self.shdr.SerializeToString()
        self.payload.data = self.tx.SerializeToString()
        return common_pb2.Envelope(payload=self.payload.SerializeToString())


def _tampered_writes(prepared: common_pb2.Envelope) -> common_pb2.Envelope:
    """Every write of the contract's namespace changed (other namespaces kept as endorsed)."""
    parts = Parts.of(prepared)
    txrw = rwset_pb2.TxReadWriteSet.FromString(parts.action.results)
    for ns in txrw.ns_rwset:
        kv = kv_rwset_pb2.KVRWSet.FromString(ns.rwset)
        for write in kv.writes:
            write.value = b'{"forged": true}'
        ns.rwset = kv.SerializeToString()
    parts.action.results = txrw.SerializeToString()
    return parts.envelope(action=True)


# --- calls as a given identity ------------------------------------------------------------------


def _as(
    h: Harness, who: tuple[Identity, object], call: Callable[[Harness, Gateway], Answer]
) -> Answer:
    with h.connect(*who) as gw:
        return call(h, gw)


def _evaluate_query(h: Harness, gw: Gateway) -> Answer:
    return evaluate(h, gw, query_proposal(h, gw))


def _endorse_register(h: Harness, gw: Gateway) -> Answer:
    return endorse(h, gw, register_proposal(h, gw))[2]


def _commit_status_of_committed(h: Harness, gw: Gateway) -> Answer:
    tx_id, _ = h.committed()
    try:
        commit_status(h, gw, tx_id)
    except grpc.RpcError as exc:
        return _refused(exc)
    return OK


def _chaincode_events(h: Harness, gw: Gateway) -> Answer:
    """Accepted (an event arrives, or the stream is still open at the deadline) or refused."""
    _, block = h.committed()
    request = signed_chaincode_events_request(
        h.channel, h.chaincode, gw.creator, gw.sign, start_block=block
    )
    stream = gw.stub.ChaincodeEvents(request, timeout=EVENTS_WAIT)
    try:
        next(iter(stream))
    except grpc.RpcError as exc:
        if exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
            return OK
        return _refused(exc)
    finally:
        stream.cancel()
    return OK


def deliver(
    h: Harness, gw: Gateway, envelope: common_pb2.Envelope, *, filtered: bool = False
) -> Answer:
    stub = events_pb2_grpc.DeliverStub(gw.grpc_channel)
    method = stub.DeliverFiltered if filtered else stub.Deliver
    call = method(iter([envelope]), timeout=CALL_TIMEOUT)
    try:
        for response in call:
            if response.WhichOneof("Type") == "status":
                return Answer(f"deliver:{common_pb2.Status.Name(response.status)}", "OK")
    except grpc.RpcError as exc:
        return _refused(exc)
    finally:
        call.cancel()
    return Answer("deliver:no-status", "OK")


def _deliver_genesis(h: Harness, gw: Gateway) -> Answer:
    return deliver(h, gw, seek_envelope(h.channel, gw.creator, gw.sign, 0, 0, wait=False))


def _deliver_filtered_genesis(h: Harness, gw: Gateway) -> Answer:
    envelope = seek_envelope(h.channel, gw.creator, gw.sign, 0, 0, wait=False)
    return deliver(h, gw, envelope, filtered=True)


ENTRY_POINTS: dict[str, Callable[[Harness, Gateway], Answer]] = {
    "evaluate": _evaluate_query,
    "endorse": _endorse_register,
    "commit_status": _commit_status_of_committed,
    "chaincode_events": _chaincode_events,
    "deliver": _deliver_genesis,
}


# --- the cases ----------------------------------------------------------------------------------

CASES: dict[str, Callable[[Harness], Answer]] = {}


def case(name: str) -> Callable[[Callable[[Harness], Answer]], Callable[[Harness], Answer]]:
    def register(fn: Callable[[Harness], Answer]) -> Callable[[Harness], Answer]:
        if name in CASES:
            raise ValueError(f"case {name} defined twice")
        CASES[name] = fn
        return fn

    return register


IDENTITIES: dict[str, Callable[[Harness], tuple[Identity, object]]] = {
    "admin": lambda h: h.user("bank", "admin"),
    "client": lambda h: h.user("bank", "client"),
    "auditor_client": lambda h: h.user("regulator", "client"),
    "ou_peer": lambda h: h.mint("bank", "peer"),
    "ou_orderer": lambda h: h.mint("bank", "orderer"),
    "ou_unknown": lambda h: h.mint("bank", "manager"),
    "ou_none": lambda h: h.mint("bank", None),
    "expired": lambda h: h.mint("bank", "client", expired=True),
    "unknown_ca": lambda h: h.foreign("bank"),
    "other_key": lambda h: (
        h.user("bank", "client")[0],
        EcdsaSigner(ec.generate_private_key(ec.SECP256R1())),
    ),
    "high_s": lambda h: (h.user("bank", "client")[0], HighS(h.user("bank", "client")[1])),
}


def _identity_case(who: str, entry: str) -> None:
    @case(f"{entry}.as_{who}")
    def run(h: Harness) -> Answer:
        return _as(h, IDENTITIES[who](h), ENTRY_POINTS[entry])


for _who in IDENTITIES:
    for _entry in ENTRY_POINTS:
        if _entry == "endorse" and _who in ("client", "auditor_client"):
            continue  # the contract, not the peer, decides these (only admins register)
        _identity_case(_who, _entry)


@case("deliver_filtered.as_client")
def _filtered_as_client(h: Harness) -> Answer:
    return _as(h, h.user("bank", "client"), _deliver_filtered_genesis)


@case("deliver_filtered.as_ou_orderer")
def _filtered_as_orderer(h: Harness) -> Answer:
    return _as(h, h.mint("bank", "orderer"), _deliver_filtered_genesis)


# proposals


@case("proposal.tampered_after_signing")
def _p_tampered(h: Harness) -> Answer:
    with h.gateway() as gw:
        return endorse(h, gw, register_proposal(h, gw, tamper_after_signing=True))[2]


@case("proposal.wrong_tx_id")
def _p_txid(h: Harness) -> Answer:
    with h.gateway() as gw:
        return endorse(h, gw, register_proposal(h, gw, tx_id="ab" * 32))[2]


@case("proposal.epoch_nonzero")
def _p_epoch(h: Harness) -> Answer:
    with h.gateway() as gw:
        return endorse(h, gw, register_proposal(h, gw, epoch=1))[2]


@case("proposal.empty_nonce")
def _p_nonce(h: Harness) -> Answer:
    with h.gateway() as gw:
        return endorse(h, gw, register_proposal(h, gw, nonce=b""))[2]


@case("proposal.header_type_config")
def _p_type_config(h: Harness) -> Answer:
    with h.gateway() as gw:
        return endorse(h, gw, register_proposal(h, gw, header_type=common_pb2.HeaderType.CONFIG))[2]


@case("proposal.header_type_message")
def _p_type_message(h: Harness) -> Answer:
    with h.gateway() as gw:
        return endorse(h, gw, register_proposal(h, gw, header_type=common_pb2.HeaderType.MESSAGE))[
            2
        ]


@case("proposal.unknown_channel.evaluate")
def _p_channel_eval(h: Harness) -> Answer:
    with h.gateway() as gw:
        return evaluate(h, gw, query_proposal(h, gw, channel="nosuchchannel"))


@case("proposal.unknown_channel.endorse")
def _p_channel_endorse(h: Harness) -> Answer:
    with h.gateway() as gw:
        return endorse(h, gw, register_proposal(h, gw, channel="nosuchchannel"))[2]


@case("proposal.unknown_chaincode")
def _p_chaincode(h: Harness) -> Answer:
    with h.gateway() as gw:
        return evaluate(h, gw, query_proposal(h, gw, chaincode="nosuchchaincode"))


def _seconds_from_now(delta: float) -> timestamp_pb2.Timestamp:
    t = datetime.now(UTC) + timedelta(seconds=delta)
    return timestamp_pb2.Timestamp(seconds=int(t.timestamp()))


@case("proposal.timestamp_one_hour_old")
def _p_old(h: Harness) -> Answer:
    with h.gateway() as gw:
        return endorse(h, gw, register_proposal(h, gw, timestamp=_seconds_from_now(-3600)))[2]


@case("proposal.timestamp_one_hour_ahead")
def _p_future(h: Harness) -> Answer:
    with h.gateway() as gw:
        return endorse(h, gw, register_proposal(h, gw, timestamp=_seconds_from_now(3600)))[2]


@case("proposal.timestamp_one_hour_old.evaluate")
def _p_old_eval(h: Harness) -> Answer:
    with h.gateway() as gw:
        return evaluate(h, gw, query_proposal(h, gw, timestamp=_seconds_from_now(-3600)))


@case("proposal.unknown_chaincode.endorse")
def _p_chaincode_endorse(h: Harness) -> Answer:
    with h.gateway() as gw:
        return endorse(h, gw, register_proposal(h, gw, chaincode="nosuchchaincode"))[2]


@case("proposal.timestamp_five_minutes_old")
def _p_recent(h: Harness) -> Answer:
    with h.gateway() as gw:
        return evaluate(h, gw, query_proposal(h, gw, timestamp=_seconds_from_now(-300)))


@case("proposal.garbage_bytes")
def _p_garbage(h: Harness) -> Answer:
    with h.gateway() as gw:
        built = Built(
            "00" * 32,
            proposal_pb2.SignedProposal(proposal_bytes=b"\xff\x00garbage", signature=b"x"),
            h.channel,
        )
        return endorse(h, gw, built)[2]


@case("proposal.empty")
def _p_empty(h: Harness) -> Answer:
    with h.gateway() as gw:
        built = Built("00" * 32, proposal_pb2.SignedProposal(), h.channel)
        return evaluate(h, gw, built)


@case("proposal.replay_of_committed")
def _p_replay(h: Harness) -> Answer:
    with h.gateway() as gw:
        built = register_proposal(h, gw)
        tx_id, prepared, answer = endorse(h, gw, built)
        assert prepared is not None, answer
        first = submit(h, gw, tx_id, sign_env(gw, prepared))
        assert first.answer == "committed:VALID", first
        return endorse(h, gw, built)[2]


# endorsements


@case("endorse.one_org_only")
def _e_one_org(h: Harness) -> Answer:
    with h.gateway() as gw:
        tx_id, prepared = endorsed(h, gw, [h.msp["bank"]])
        return submit(h, gw, tx_id, sign_env(gw, prepared))


@case("endorse.auditor_only")
def _e_auditor_only(h: Harness) -> Answer:
    with h.gateway() as gw:
        tx_id, prepared, answer = endorse(h, gw, register_proposal(h, gw), [h.msp["regulator"]])
        if prepared is None:
            return answer
        return submit(h, gw, tx_id, sign_env(gw, prepared))


@case("endorse.member_and_auditor")
def _e_member_auditor(h: Harness) -> Answer:
    with h.gateway() as gw:
        tx_id, prepared, answer = endorse(
            h, gw, register_proposal(h, gw), [h.msp["bank"], h.msp["regulator"]]
        )
        if prepared is None:
            return answer
        return submit(h, gw, tx_id, sign_env(gw, prepared))


def _with_second_endorsement(h: Harness, signature: Callable[[bytes], bytes]) -> Answer:
    """One org's real endorsement plus one the client appended, naming telecom's peer."""
    with h.gateway() as gw:
        tx_id, prepared = endorsed(h, gw, [h.msp["bank"]])
        parts = Parts.of(prepared)
        [real] = parts.cap.action.endorsements
        parts.cap.action.endorsements.append(
            proposal_response_pb2.Endorsement(
                endorser=h.peer_identity("telecom"), signature=signature(real.signature)
            )
        )
        return submit(h, gw, tx_id, sign_env(gw, parts.envelope()))


@case("endorse.forged_second_random_signature")
def _e_forged_random(h: Harness) -> Answer:
    def random_sig(_: bytes) -> bytes:
        key = ec.generate_private_key(ec.SECP256R1())
        return EcdsaSigner(key).sign(sha256(os.urandom(32)))

    return _with_second_endorsement(h, random_sig)


@case("endorse.forged_second_random_bytes")
def _e_forged_bytes(h: Harness) -> Answer:
    return _with_second_endorsement(h, lambda _: os.urandom(71))


@case("endorse.forged_second_copied_signature")
def _e_forged_copy(h: Harness) -> Answer:
    return _with_second_endorsement(h, lambda real: real)


@case("endorse.signature_replaced")
def _e_replaced(h: Harness) -> Answer:
    with h.gateway() as gw:
        tx_id, prepared = endorsed(h, gw)
        parts = Parts.of(prepared)
        for e in parts.cap.action.endorsements:
            e.signature = EcdsaSigner(ec.generate_private_key(ec.SECP256R1())).sign(sha256(b"x"))
        return submit(h, gw, tx_id, sign_env(gw, parts.envelope()))


@case("endorse.duplicated_same_org")
def _e_duplicated(h: Harness) -> Answer:
    with h.gateway() as gw:
        tx_id, prepared = endorsed(h, gw, [h.msp["bank"]])
        parts = Parts.of(prepared)
        [real] = parts.cap.action.endorsements
        parts.cap.action.endorsements.append(
            proposal_response_pb2.Endorsement(endorser=real.endorser, signature=real.signature)
        )
        return submit(h, gw, tx_id, sign_env(gw, parts.envelope()))


# envelopes


@case("submit.valid")
def _s_valid(h: Harness) -> Answer:
    with h.gateway() as gw:
        tx_id, prepared = endorsed(h, gw)
        return submit(h, gw, tx_id, sign_env(gw, prepared))


@case("submit.write_set_tampered")
def _s_rwset(h: Harness) -> Answer:
    with h.gateway() as gw:
        tx_id, prepared = endorsed(h, gw)
        return submit(h, gw, tx_id, sign_env(gw, _tampered_writes(prepared)))


@case("submit.payload_changed_after_signing")
def _s_payload(h: Harness) -> Answer:
    with h.gateway() as gw:
        tx_id, prepared = endorsed(h, gw)
        signature = sign_env(gw, prepared).signature
        forged = _tampered_writes(prepared)
        return submit(
            h, gw, tx_id, common_pb2.Envelope(payload=forged.payload, signature=signature)
        )


@case("submit.signed_by_another_key")
def _s_other_key(h: Harness) -> Answer:
    with h.gateway() as gw:
        tx_id, prepared = endorsed(h, gw)
        other = EcdsaSigner(ec.generate_private_key(ec.SECP256R1()))
        return submit(
            h,
            gw,
            tx_id,
            common_pb2.Envelope(
                payload=prepared.payload, signature=other.sign(sha256(prepared.payload))
            ),
        )


@case("submit.unsigned")
def _s_unsigned(h: Harness) -> Answer:
    with h.gateway() as gw:
        tx_id, prepared = endorsed(h, gw)
        return submit(h, gw, tx_id, prepared)


@case("submit.garbage_payload")
def _s_garbage(h: Harness) -> Answer:
    with h.gateway() as gw:
        envelope = common_pb2.Envelope(payload=b"\xff\x00garbage")
        return submit(h, gw, "00" * 32, sign_env(gw, envelope))


def _header_changed(h: Harness, change: Callable[[Parts], None]) -> Answer:
    with h.gateway() as gw:
        _, prepared = endorsed(h, gw)
        parts = Parts.of(prepared)
        change(parts)
        return submit(h, gw, parts.chdr.tx_id, sign_env(gw, parts.envelope()))


@case("submit.wrong_tx_id")
def _s_txid(h: Harness) -> Answer:
    def change(p: Parts) -> None:
        p.chdr.tx_id = compute_tx_id(os.urandom(24), p.shdr.creator)

    return _header_changed(h, change)


@case("submit.epoch_nonzero")
def _s_epoch(h: Harness) -> Answer:
    def change(p: Parts) -> None:
        p.chdr.epoch = 7

    return _header_changed(h, change)


@case("submit.empty_nonce")
def _s_nonce(h: Harness) -> Answer:
    def change(p: Parts) -> None:
        p.shdr.nonce = b""

    return _header_changed(h, change)


@case("submit.header_type_message")
def _s_type(h: Harness) -> Answer:
    def change(p: Parts) -> None:
        p.chdr.type = common_pb2.HeaderType.MESSAGE

    return _header_changed(h, change)


@case("submit.envelope_names_unknown_channel")
def _s_env_channel(h: Harness) -> Answer:
    def change(p: Parts) -> None:
        p.chdr.channel_id = "nosuchchannel"

    return _header_changed(h, change)


@case("submit.request_names_unknown_channel")
def _s_req_channel(h: Harness) -> Answer:
    with h.gateway() as gw:
        tx_id, prepared = endorsed(h, gw)
        return submit(h, gw, tx_id, sign_env(gw, prepared), channel="nosuchchannel")


@case("submit.by_another_member")
def _s_other_member(h: Harness) -> Answer:
    """Telecom's admin submits (signs) the transaction bank's admin proposed."""
    with h.gateway() as gw:
        tx_id, prepared = endorsed(h, gw)
    with h.gateway("telecom", "admin") as other:
        return submit(h, other, tx_id, sign_env(other, prepared))


def _submitted_as(h: Harness, who: tuple[Identity, object]) -> Answer:
    """An endorsed transaction whose envelope names and is signed by `who` (the orderer's
    SigFilter decides; the committer would refuse the mismatch with the proposal anyway)."""
    with h.gateway() as gw:
        _, prepared = endorsed(h, gw)
    identity, signer = who
    creator = serialize_identity(identity.msp_id, identity.certificate)
    parts = Parts.of(prepared)
    parts.shdr.creator = creator
    parts.chdr.tx_id = compute_tx_id(parts.shdr.nonce, creator)
    envelope = parts.envelope()
    signed = common_pb2.Envelope(
        payload=envelope.payload, signature=signer.sign(sha256(envelope.payload))
    )  # type: ignore[attr-defined]
    with h.gateway() as gw:
        return submit(h, gw, parts.chdr.tx_id, signed)


@case("submit.as_ou_peer")
def _s_as_peer(h: Harness) -> Answer:
    return _submitted_as(h, h.mint("bank", "peer"))


@case("submit.as_ou_orderer")
def _s_as_orderer(h: Harness) -> Answer:
    return _submitted_as(h, h.mint("bank", "orderer"))


@case("submit.as_expired")
def _s_as_expired(h: Harness) -> Answer:
    return _submitted_as(h, h.mint("bank", "client", expired=True))


@case("submit.as_unknown_ca")
def _s_as_unknown_ca(h: Harness) -> Answer:
    return _submitted_as(h, h.foreign("bank"))


@case("submit.replay_after_commit")
def _s_replay(h: Harness) -> Answer:
    """The replay's own validation code, read from the blocks (CommitStatus names the first)."""
    with h.gateway() as gw:
        tx_id, prepared = endorsed(h, gw)
        envelope = sign_env(gw, prepared)
        first = submit(h, gw, tx_id, envelope)
        assert first.answer == "committed:VALID", first
        request = gateway_pb2.SubmitRequest(
            transaction_id=tx_id, channel_id=h.channel, prepared_transaction=envelope
        )
        try:
            gw.stub.Submit(request, timeout=CALL_TIMEOUT)
        except grpc.RpcError as exc:
            return _refused(exc)
        later_id, later = endorsed(h, gw)  # ordered after the replay: its commit means the replay's
        assert submit(h, gw, later_id, sign_env(gw, later)).answer == "committed:VALID"
        _, first_block = commit_status(h, gw, tx_id)
        codes = [
            t.code_name
            for b in BlockReader(gw, h.channel).blocks(
                first_block, "newest", wait=False, timeout=CALL_TIMEOUT
            )
            for t in block_transactions(b)
            if t.tx_id == tx_id
        ]
        return Answer("committed:" + "+".join(codes), "OK")


@case("submit.mvcc_conflict")
def _s_mvcc(h: Harness) -> Answer:
    """Two registrations of one dataset name, both endorsed before either commits."""
    spec = dataset_spec()
    with h.gateway() as gw:
        prepared = []
        for _ in range(2):
            built = build_proposal(h, gw, "RegisterDataset", [spec])
            tx_id, envelope, answer = endorse(h, gw, built)
            assert envelope is not None, answer
            prepared.append((tx_id, envelope))
        first = submit(h, gw, prepared[0][0], sign_env(gw, prepared[0][1]))
        assert first.answer == "committed:VALID", first
        return submit(h, gw, prepared[1][0], sign_env(gw, prepared[1][1]))


# deliver


def _seek(
    h: Harness,
    gw: Gateway,
    seek: ab_pb2.SeekInfo,
    *,
    channel: str | None = None,
    timestamp: timestamp_pb2.Timestamp | None = None,
) -> common_pb2.Envelope:
    envelope = seek_envelope(channel or h.channel, gw.creator, gw.sign, 0, 0)
    payload = common_pb2.Payload.FromString(envelope.payload)
    payload.data = seek.SerializeToString()
    if timestamp is not None:
        chdr = common_pb2.ChannelHeader.FromString(payload.header.channel_header)
        chdr.timestamp.CopyFrom(timestamp)
        payload.header.channel_header = chdr.SerializeToString()
    return sign_env(gw, common_pb2.Envelope(payload=payload.SerializeToString()))


def _pos(kind: str, number: int = 0) -> ab_pb2.SeekPosition:
    if kind == "oldest":
        return ab_pb2.SeekPosition(oldest=ab_pb2.SeekOldest())
    if kind == "newest":
        return ab_pb2.SeekPosition(newest=ab_pb2.SeekNewest())
    return ab_pb2.SeekPosition(specified=ab_pb2.SeekSpecified(number=number))


FAIL = ab_pb2.SeekInfo.FAIL_IF_NOT_READY


@case("deliver.oldest_to_newest")
def _d_all(h: Harness) -> Answer:
    with h.gateway() as gw:
        return deliver(
            h,
            gw,
            _seek(h, gw, ab_pb2.SeekInfo(start=_pos("oldest"), stop=_pos("newest"), behavior=FAIL)),
        )


@case("deliver.newest_only")
def _d_newest(h: Harness) -> Answer:
    with h.gateway() as gw:
        return deliver(
            h,
            gw,
            _seek(h, gw, ab_pb2.SeekInfo(start=_pos("newest"), stop=_pos("newest"), behavior=FAIL)),
        )


@case("deliver.beyond_height_fail_if_not_ready")
def _d_beyond(h: Harness) -> Answer:
    with h.gateway() as gw:
        height = BlockReader(gw, h.channel).height()
        seek = ab_pb2.SeekInfo(start=_pos("n", height), stop=_pos("n", height), behavior=FAIL)
        return deliver(h, gw, _seek(h, gw, seek))


@case("deliver.far_beyond_height")
def _d_far(h: Harness) -> Answer:
    with h.gateway() as gw:
        height = BlockReader(gw, h.channel).height()
        seek = ab_pb2.SeekInfo(start=_pos("n", height + 100), stop=_pos("n", height + 100))
        return deliver(h, gw, _seek(h, gw, seek))


@case("deliver.start_after_stop")
def _d_reversed(h: Harness) -> Answer:
    with h.gateway() as gw:
        seek = ab_pb2.SeekInfo(start=_pos("n", 1), stop=_pos("n", 0), behavior=FAIL)
        return deliver(h, gw, _seek(h, gw, seek))


@case("deliver.no_stop")
def _d_no_stop(h: Harness) -> Answer:
    with h.gateway() as gw:
        return deliver(h, gw, _seek(h, gw, ab_pb2.SeekInfo(start=_pos("oldest"), behavior=FAIL)))


@case("deliver.unknown_channel")
def _d_channel(h: Harness) -> Answer:
    with h.gateway() as gw:
        seek = ab_pb2.SeekInfo(start=_pos("oldest"), stop=_pos("oldest"), behavior=FAIL)
        return deliver(h, gw, _seek(h, gw, seek, channel="nosuchchannel"))


@case("deliver.timestamp_one_hour_old")
def _d_old(h: Harness) -> Answer:
    with h.gateway() as gw:
        seek = ab_pb2.SeekInfo(start=_pos("oldest"), stop=_pos("oldest"), behavior=FAIL)
        return deliver(h, gw, _seek(h, gw, seek, timestamp=_seconds_from_now(-3600)))


@case("deliver.garbage_envelope")
def _d_garbage(h: Harness) -> Answer:
    with h.gateway() as gw:
        return deliver(h, gw, common_pb2.Envelope(payload=b"\xff\x00garbage", signature=b"x"))


@case("deliver.signed_by_another_key")
def _d_other_key(h: Harness) -> Answer:
    with h.gateway() as gw:
        envelope = _seek(
            h, gw, ab_pb2.SeekInfo(start=_pos("oldest"), stop=_pos("oldest"), behavior=FAIL)
        )
        other = EcdsaSigner(ec.generate_private_key(ec.SECP256R1()))
        return deliver(
            h,
            gw,
            common_pb2.Envelope(
                payload=envelope.payload, signature=other.sign(sha256(envelope.payload))
            ),
        )


@case("deliver_with_private_data.as_client")
def _d_pvt(h: Harness) -> Answer:
    with h.gateway("bank", "client") as gw:
        stub = events_pb2_grpc.DeliverStub(gw.grpc_channel)
        envelope = seek_envelope(h.channel, gw.creator, gw.sign, 0, 0, wait=False)
        call = stub.DeliverWithPrivateData(iter([envelope]), timeout=CALL_TIMEOUT)
        kinds = []
        try:
            for response in call:
                kinds.append(response.WhichOneof("Type"))
                if kinds[-1] == "status":
                    status = common_pb2.Status.Name(response.status)
                    return Answer(f"deliver:{status}:{'+'.join(kinds[:-1])}", "OK")
        except grpc.RpcError as exc:
            return _refused(exc)
        finally:
            call.cancel()
        return Answer("deliver:no-status", "OK")


@case("commit_status.unknown_channel")
def _c_channel(h: Harness) -> Answer:
    tx_id, _ = h.committed()
    with h.gateway() as gw:
        request = signed_commit_status_request("nosuchchannel", tx_id, gw.creator, gw.sign)
        try:
            gw.stub.CommitStatus(request, timeout=CALL_TIMEOUT)
        except grpc.RpcError as exc:
            return _refused(exc)
        return OK


@case("chaincode_events.unknown_channel")
def _ev_channel(h: Harness) -> Answer:
    with h.gateway() as gw:
        request = signed_chaincode_events_request(
            "nosuchchannel", h.chaincode, gw.creator, gw.sign, start_block=0
        )
        stream = gw.stub.ChaincodeEvents(request, timeout=EVENTS_WAIT)
        try:
            next(iter(stream))
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
                return OK
            return _refused(exc)
        finally:
            stream.cancel()
        return OK


# --- the oracle ---------------------------------------------------------------------------------


def load_oracle() -> dict[str, Answer]:
    data = json.loads(ORACLE.read_text())
    return {name: Answer(**entry) for name, entry in data["cases"].items()}


def save_oracle(answers: dict[str, Answer], fabric_version: str) -> None:
    data = {
        "about": (
            "Answers of a real Fabric peer (gateway, orderer, committer) to the cases of "
            "tests/conformance_cases.py: answer class and gRPC status code per case; messages are "
            "informational. Re-record with CONFORMANCE_RECORD=1 (tests/fabric)."
        ),
        "fabric_version": fabric_version,
        "cases": {name: asdict(answers[name]) for name in sorted(answers)},
    }
    ORACLE.write_text(json.dumps(data, indent=1, sort_keys=False) + "\n")


DIVERGENCES: dict[str, str] = {}
"""Cases where devnet answers differently from Fabric on purpose: case name -> reason. Each is
listed in network/README.md's table too."""
