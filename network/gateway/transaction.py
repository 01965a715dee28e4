"""An endorsed transaction: its result is known; sign it and submit it for ordering."""

from __future__ import annotations

from typing import TYPE_CHECKING

import grpc
from fabric_protos.common import common_pb2
from fabric_protos.gateway import gateway_pb2

from network.gateway.commit import Commit
from network.gateway.errors import SubmitError, from_rpc_error
from network.protoutil import MalformedMessage, sha256, sign_envelope, transaction_result

if TYPE_CHECKING:
    from network.gateway.gateway import Gateway


class Transaction:
    def __init__(
        self,
        gateway: Gateway,
        channel_id: str,
        tx_id: str,
        prepared: common_pb2.Envelope,
    ) -> None:
        self._gateway = gateway
        self.channel_id = channel_id
        self.tx_id = tx_id
        self.prepared = prepared
        try:
            self.result = transaction_result(prepared)
        except MalformedMessage as exc:
            raise SubmitError(
                f"the gateway returned a malformed prepared transaction: {exc}", tx_id=tx_id
            ) from exc

    def digest(self) -> bytes:
        return sha256(self.prepared.payload)

    def signed_envelope(self) -> common_pb2.Envelope:
        return sign_envelope(self.prepared, self._gateway.sign)

    def submit(self) -> Commit:
        """Sign and send to the ordering service; returns a Commit to wait on."""
        envelope = self.signed_envelope()
        submit_envelope(self._gateway, self.channel_id, self.tx_id, envelope)
        return Commit(self._gateway, self.channel_id, self.tx_id)


def submit_envelope(
    gateway: Gateway, channel_id: str, tx_id: str, envelope: common_pb2.Envelope
) -> None:
    request = gateway_pb2.SubmitRequest(
        transaction_id=tx_id, channel_id=channel_id, prepared_transaction=envelope
    )
    try:
        gateway.stub.Submit(request, timeout=gateway.timeouts.submit)
    except grpc.RpcError as exc:
        raise from_rpc_error(exc, SubmitError, tx_id) from exc
