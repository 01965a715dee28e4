"""A signed transaction proposal: evaluate it, or endorse it into a Transaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import grpc
from fabric_protos.gateway import gateway_pb2

from network.gateway.errors import EndorseError, EvaluateError, from_rpc_error
from network.gateway.transaction import Transaction
from network.protoutil import sha256, sign_proposal

if TYPE_CHECKING:
    from network.gateway.gateway import Gateway


class Proposal:
    def __init__(
        self,
        gateway: Gateway,
        channel_id: str,
        tx_id: str,
        proposal_bytes: bytes,
        endorsing_organizations: Sequence[str] = (),
    ) -> None:
        self._gateway = gateway
        self.channel_id = channel_id
        self.tx_id = tx_id
        self.proposal_bytes = proposal_bytes
        self.endorsing_organizations = list(endorsing_organizations)
        self._signed = sign_proposal(proposal_bytes, gateway.sign)

    def digest(self) -> bytes:
        """What the client signs (for offline signing flows)."""
        return sha256(self.proposal_bytes)

    def evaluate(self) -> bytes:
        request = gateway_pb2.EvaluateRequest(
            transaction_id=self.tx_id,
            channel_id=self.channel_id,
            proposed_transaction=self._signed,
            target_organizations=self.endorsing_organizations,
        )
        try:
            response = self._gateway.stub.Evaluate(request, timeout=self._gateway.timeouts.evaluate)
        except grpc.RpcError as exc:
            raise from_rpc_error(exc, EvaluateError, self.tx_id) from exc
        return response.result.payload

    def endorse(self) -> Transaction:
        request = gateway_pb2.EndorseRequest(
            transaction_id=self.tx_id,
            channel_id=self.channel_id,
            proposed_transaction=self._signed,
            endorsing_organizations=self.endorsing_organizations,
        )
        try:
            response = self._gateway.stub.Endorse(request, timeout=self._gateway.timeouts.endorse)
        except grpc.RpcError as exc:
            raise from_rpc_error(exc, EndorseError, self.tx_id) from exc
        return Transaction(
            self._gateway, self.channel_id, self.tx_id, response.prepared_transaction
        )
