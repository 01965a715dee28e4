"""gRPC failures become the client's typed errors once, with Fabric's details kept."""

from __future__ import annotations

import grpc

from network.errors import (
    CommitStatusError,
    ContractRejected,
    EndorseError,
    ErrorDetail,
    EvaluateError,
    SubmitError,
    Unavailable,
)
from network.gateway.errors import from_rpc_error
from network.rpcstatus import STATUS_DETAILS_KEY, decode_details, encode_status


class FakeCall(grpc.RpcError, grpc.Call):
    def __init__(self, code: grpc.StatusCode, details: str, trailers=()) -> None:
        self._code, self._details, self._trailers = code, details, tuple(trailers)

    def code(self):
        return self._code

    def details(self):
        return self._details

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


def _with_detail(code: grpc.StatusCode, message: str, detail: str) -> FakeCall:
    details = (ErrorDetail("127.0.0.1:7051", "BankMSP", detail),)
    trailer = (STATUS_DETAILS_KEY, encode_status(code.value[0], message, details))
    return FakeCall(code, message, [trailer])


def test_status_details_round_trip() -> None:
    details = (ErrorDetail("a:1", "BankMSP", "m1"), ErrorDetail("b:2", "TelecomMSP", "m2"))
    assert decode_details(encode_status(10, "x", details)) == details
    assert decode_details(b"\xff garbage") == ()


def test_contract_refusal_in_endorse_details_is_contract_rejected() -> None:
    call = _with_detail(
        grpc.StatusCode.ABORTED,
        "failed to endorse transaction, see attached details for more info",
        "chaincode response 409, Conflict: bank/customers is already registered",
    )
    err = from_rpc_error(call, EndorseError, "tx1")
    assert isinstance(err, ContractRejected) and isinstance(err, EndorseError)
    assert (err.error_type, err.status, err.tx_id) == ("Conflict", 409, "tx1")
    assert err.reason == "bank/customers is already registered"
    assert err.details[0].msp_id == "BankMSP" and err.code == "ABORTED"


def test_contract_refusal_in_evaluate_message_without_details() -> None:
    call = FakeCall(
        grpc.StatusCode.UNKNOWN,
        "evaluate call to endorser returned error: chaincode response 404, NotFound: no job",
    )
    err = from_rpc_error(call, EvaluateError)
    assert isinstance(err, ContractRejected) and isinstance(err, EvaluateError)
    assert str(err) == "NotFound: no job"


def test_refusal_without_class_name_still_contract_rejected() -> None:
    call = FakeCall(grpc.StatusCode.UNKNOWN, "chaincode response 500, something broke")
    err = from_rpc_error(call, EvaluateError)
    assert isinstance(err, ContractRejected) and err.error_type == "ContractError"


def test_peer_refusal_is_endorse_error_not_contract_rejected() -> None:
    call = _with_detail(
        grpc.StatusCode.ABORTED,
        "failed to endorse transaction, see attached details for more info",
        "error validating proposal: access denied: signature is not valid",
    )
    err = from_rpc_error(call, EndorseError, "tx")
    assert type(err) is EndorseError
    assert "access denied" in str(err) and "[tx tx]" in str(err)


def test_submit_errors_are_never_contract_rejected() -> None:
    call = FakeCall(grpc.StatusCode.ALREADY_EXISTS, "chaincode response 400, X: y")
    err = from_rpc_error(call, SubmitError)
    assert type(err) is SubmitError and err.code == "ALREADY_EXISTS"


def test_unavailable_and_deadline() -> None:
    down = from_rpc_error(FakeCall(grpc.StatusCode.UNAVAILABLE, "connection refused"), SubmitError)
    assert isinstance(down, Unavailable) and "is the ledger running" in str(down)
    slow = from_rpc_error(FakeCall(grpc.StatusCode.DEADLINE_EXCEEDED, ""), CommitStatusError)
    assert type(slow) is CommitStatusError and slow.code == "DEADLINE_EXCEEDED"
