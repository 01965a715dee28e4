"""A channel of the gateway: where contracts live and chaincode events come from."""

from __future__ import annotations

from typing import TYPE_CHECKING

from network.gateway.checkpoint import Checkpoint
from network.gateway.contract import Contract
from network.gateway.events import ChaincodeEventStream
from network.protoutil import signed_chaincode_events_request

if TYPE_CHECKING:
    from network.gateway.gateway import Gateway


class Network:
    def __init__(self, gateway: Gateway, name: str) -> None:
        self.gateway = gateway
        self.name = name

    def get_contract(self, chaincode: str, contract_name: str = "") -> Contract:
        return Contract(self, chaincode, contract_name)

    def chaincode_events(
        self,
        chaincode: str,
        *,
        start_block: int | None = None,
        after_tx_id: str = "",
        checkpoint: Checkpoint | None = None,
    ) -> ChaincodeEventStream:
        """Events of valid transactions of `chaincode`, in commit order, from `start_block`
        (None: the next block committed) or from where `checkpoint` says; endless until closed.

        With a checkpoint, its block and tx id override `start_block`/`after_tx_id` once it has
        recorded a position (a fresh checkpoint starts at `start_block`)."""
        if checkpoint is not None and checkpoint.block_number is not None:
            start_block, after_tx_id = checkpoint.block_number, checkpoint.tx_id
        gw = self.gateway
        request = signed_chaincode_events_request(
            self.name,
            chaincode,
            gw.creator,
            gw.sign,
            start_block=start_block,
            after_tx_id=after_tx_id,
        )
        return ChaincodeEventStream(gw.stub.ChaincodeEvents(request))
