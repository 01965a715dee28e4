"""The Gateway client re-endorses, with a fresh proposal, a transaction whose endorsing peers'
results differed (one peer a block behind), and never retries a contract's refusal."""

from __future__ import annotations

import grpc
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fabric_protos.gateway import gateway_pb2
from fabric_protos.peer import proposal_response_pb2

from alliance.identity import Identity
from alliance.network_init import CertificateAuthority, cert_pem
from alliance.signing import EcdsaSigner
from network.errors import ContractRejected, EndorseError, ErrorDetail
from network.gateway import retry
from network.gateway.gateway import Gateway
from network.protoutil import prepare_transaction, proposal_response_payload, unpack_proposal
from network.rpcstatus import STATUS_DETAILS_KEY, encode_status


class Refusal(grpc.RpcError, grpc.Call):
    """What Fabric's gateway raises: ABORTED with one ErrorDetail per peer."""

    def __init__(self, message: str, detail: str) -> None:
        self._message = message
        status = encode_status(
            grpc.StatusCode.ABORTED.value[0],
            message,
            (ErrorDetail("127.0.0.1:7051", "TelecomMSP", detail),),
        )
        self._trailers = ((STATUS_DETAILS_KEY, status),)

    def code(self):
        return grpc.StatusCode.ABORTED

    def details(self):
        return self._message

    def trailing_metadata(self):
        return self._trailers

    def initial_metadata(self):
        return ()

    def is_active(self):
        return False

    def time_remaining(self):
        return None

    def cancel(self):
        return False

    def add_callback(self, callback):
        return False


MISMATCH = Refusal(
    "failed to collect enough transaction endorsements, see attached details for more info",
    "ProposalResponsePayloads do not match",
)
CONTRACT_REFUSAL = Refusal(
    "failed to endorse transaction, see attached details for more info",
    "chaincode response 403, NotAuthorized: only an admin of bank may register datasets",
)


class Stub:
    """A gateway whose first answers are `refusals`, then endorsements."""

    def __init__(self, *refusals: Refusal) -> None:
        self.refusals = list(refusals)
        self.tx_ids: list[str] = []

    def Endorse(self, request: gateway_pb2.EndorseRequest, timeout: float):
        self.tx_ids.append(request.transaction_id)
        if self.refusals:
            raise self.refusals.pop(0)
        proposal = unpack_proposal(request.proposed_transaction)
        prp = proposal_response_payload(
            proposal.hash(), proposal_response_pb2.Response(status=200), b"", b"", "cc", "1.0"
        )
        return gateway_pb2.EndorseResponse(
            prepared_transaction=prepare_transaction(proposal, prp, [])
        )


def _contract(stub: Stub):
    key = ec.generate_private_key(ec.SECP256R1())
    ca = CertificateAuthority.create("bank", "ca.bank")
    identity = Identity(
        "BankMSP", cert_pem(ca.issue(key.public_key(), org="bank", common_name="u"))
    )
    gw = Gateway(grpc.insecure_channel("127.0.0.1:1"), identity, EcdsaSigner(key))
    gw.stub = stub  # type: ignore[assignment]
    return gw.get_network("alliance").get_contract("cc")


def test_mismatched_endorsements_are_retried_with_a_fresh_proposal(caplog) -> None:
    stub = Stub(MISMATCH, MISMATCH)
    contract = _contract(stub)
    waits: list[float] = []
    proposal, transaction = retry.endorse_fresh(
        lambda: contract.new_proposal("Put", ["k", "v"]), sleep=waits.append
    )
    assert len(stub.tx_ids) == 3 and len(set(stub.tx_ids)) == 3  # a new transaction each time
    assert transaction.tx_id == proposal.tx_id == stub.tx_ids[-1]
    assert waits == list(retry.BACKOFF_SECONDS[:2])
    assert "do not match" in caplog.text


def test_a_contract_refusal_is_never_retried() -> None:
    stub = Stub(CONTRACT_REFUSAL)
    contract = _contract(stub)
    with pytest.raises(ContractRejected):
        retry.endorse_fresh(lambda: contract.new_proposal("Put", ["k", "v"]), sleep=lambda _: None)
    assert len(stub.tx_ids) == 1


def test_retries_are_bounded() -> None:
    stub = Stub(*[MISMATCH] * 10)
    contract = _contract(stub)
    with pytest.raises(EndorseError) as info:
        retry.endorse_fresh(lambda: contract.new_proposal("Put", ["k", "v"]), sleep=lambda _: None)
    assert len(stub.tx_ids) == len(retry.BACKOFF_SECONDS) + 1
    assert retry.endorsements_mismatched(info.value)
