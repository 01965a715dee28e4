"""Chaincode events as the client sees them, and the stream that delivers them."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import grpc

from network.errors import ChaincodeEventsError, GatewayError


@dataclass(frozen=True)
class ChaincodeEvent:
    block_number: int
    tx_id: str
    chaincode_id: str
    event_name: str
    payload: bytes


class ChaincodeEventStream:
    """ChaincodeEvents in commit order until `close()` (or the `with` block ends): iterate it
    (blocking; `close()` from another thread ends the loop) or `async for` over it (each wait runs
    in a worker thread, so the event loop stays free)."""

    def __init__(self, call: Any) -> None:
        self._call = call
        self._closed = threading.Event()
        self._sync_iter: Iterator[ChaincodeEvent] | None = None

    def __iter__(self) -> Iterator[ChaincodeEvent]:
        from network.gateway.errors import from_rpc_error

        try:
            for response in self._call:
                for ev in response.events:
                    yield ChaincodeEvent(
                        block_number=response.block_number,
                        tx_id=ev.tx_id,
                        chaincode_id=ev.chaincode_id,
                        event_name=ev.event_name,
                        payload=ev.payload,
                    )
        except grpc.RpcError as exc:
            if self._closed.is_set() and exc.code() == grpc.StatusCode.CANCELLED:
                return
            err: GatewayError = from_rpc_error(exc, ChaincodeEventsError)
            raise err from exc

    def __aiter__(self) -> ChaincodeEventStream:
        return self

    async def __anext__(self) -> ChaincodeEvent:
        if self._sync_iter is None:
            self._sync_iter = iter(self)
        event = await asyncio.to_thread(next, self._sync_iter, None)
        if event is None:
            raise StopAsyncIteration
        return event

    def close(self) -> None:
        self._closed.set()
        self._call.cancel()

    def __enter__(self) -> ChaincodeEventStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
