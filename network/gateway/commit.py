"""A submitted transaction: wait for its block and validation code."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import grpc

from network.gateway.errors import CommitError, CommitStatusError, from_rpc_error
from network.protoutil import VALID, signed_commit_status_request, validation_code_name

if TYPE_CHECKING:
    from network.gateway.gateway import Gateway


@dataclass(frozen=True)
class CommitStatus:
    tx_id: str
    block_number: int
    code: int
    """Fabric's TxValidationCode (0 = VALID)."""

    @property
    def code_name(self) -> str:
        return validation_code_name(self.code)

    @property
    def successful(self) -> bool:
        return self.code == VALID


class Commit:
    def __init__(self, gateway: Gateway, channel_id: str, tx_id: str) -> None:
        self._gateway = gateway
        self.channel_id = channel_id
        self.tx_id = tx_id
        self._status: CommitStatus | None = None

    def status(self, timeout: float | None = None) -> CommitStatus:
        """Block until the transaction is committed (valid or not) and return its status."""
        if self._status is not None:
            return self._status
        gw = self._gateway
        request = signed_commit_status_request(self.channel_id, self.tx_id, gw.creator, gw.sign)
        try:
            response = gw.stub.CommitStatus(
                request, timeout=timeout if timeout is not None else gw.timeouts.commit_status
            )
        except grpc.RpcError as exc:
            raise from_rpc_error(exc, CommitStatusError, self.tx_id) from exc
        self._status = CommitStatus(self.tx_id, response.block_number, response.result)
        return self._status

    def require_success(self, timeout: float | None = None) -> CommitStatus:
        """The status, or CommitError when the transaction was committed as invalid."""
        status = self.status(timeout)
        if not status.successful:
            raise CommitError(status.tx_id, status.code, status.code_name, status.block_number)
        return status
