"""The chaincode server a Fabric peer dials (chaincode as a service): `protos.Chaincode/Connect`.

    server = ChaincodeServer(default_router(), chaincode_id=package_id, address="127.0.0.1:9999")
    server.start(); ...; server.stop()

Each peer connection gets its own `Handler`; one reader thread per connection feeds it, the
gRPC handler thread streams its outgoing queue back, and transactions run on a shared pool.
TLS is optional (the peer's connection.json says `tls_required`); with `client_ca` the server
also asks for the peer's client certificate.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import grpc
from fabric_protos.peer import chaincode_shim_pb2_grpc

from chaincode.router import Router
from chaincode.shim.handler import Handler
from chaincode.shim.stub import Msg

log = logging.getLogger(__name__)

TRANSACTION_WORKERS = 64
MAX_MESSAGE = 100 * 1024 * 1024


@dataclass(frozen=True)
class ServerTls:
    cert_chain: bytes
    private_key: bytes
    client_ca: bytes | None = None


class _ChaincodeService(chaincode_shim_pb2_grpc.ChaincodeServicer):
    def __init__(self, router: Router, chaincode_id: str, pool: ThreadPoolExecutor) -> None:
        self._router = router
        self._chaincode_id = chaincode_id
        self._pool = pool
        self.handlers: set[Handler] = set()

    def Connect(
        self, request_iterator: Iterator[Msg], context: grpc.ServicerContext
    ) -> Iterator[Msg]:
        handler = Handler(self._router, self._chaincode_id, self._pool)
        self.handlers.add(handler)
        log.info("peer %s connected", context.peer())

        def read() -> None:
            try:
                for message in request_iterator:
                    handler.handle(message)
            except grpc.RpcError as exc:
                log.info("peer stream ended: %s", exc)
            except Exception:
                log.exception("peer stream failed")
            finally:
                handler.close()

        context.add_callback(handler.close)
        threading.Thread(target=read, name="chaincode-reader", daemon=True).start()
        try:
            yield from handler.outgoing()
        finally:
            handler.close()
            self.handlers.discard(handler)
            log.info("peer %s disconnected", context.peer())


class ChaincodeServer:
    """A gRPC server serving one contract (`router`) under one package id."""

    def __init__(
        self,
        router: Router,
        *,
        chaincode_id: str,
        address: str,
        tls: ServerTls | None = None,
        workers: int = TRANSACTION_WORKERS,
    ) -> None:
        self.chaincode_id = chaincode_id
        self.address = address
        # Each open peer stream holds one gRPC thread for its whole life (plus its reader).
        self._grpc_pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="chaincode-grpc")
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="chaincode-tx")
        self._service = _ChaincodeService(router, chaincode_id, self._pool)
        self._server = grpc.server(
            self._grpc_pool,
            options=[
                ("grpc.max_receive_message_length", MAX_MESSAGE),
                ("grpc.max_send_message_length", MAX_MESSAGE),
                ("grpc.so_reuseport", 0),
                ("grpc.keepalive_permit_without_calls", 1),
                ("grpc.http2.min_ping_interval_without_data_ms", 5000),
            ],
        )
        chaincode_shim_pb2_grpc.add_ChaincodeServicer_to_server(self._service, self._server)
        if tls is None:
            self.port = self._server.add_insecure_port(address)
        else:
            credentials = grpc.ssl_server_credentials(
                [(tls.private_key, tls.cert_chain)],
                root_certificates=tls.client_ca,
                require_client_auth=tls.client_ca is not None,
            )
            self.port = self._server.add_secure_port(address, credentials)
        if not self.port:
            raise OSError(f"cannot listen on {address}: is the port in use?")

    def start(self) -> None:
        self._server.start()
        log.info("chaincode %s serving on port %d", self.chaincode_id, self.port)

    def wait(self) -> None:
        self._server.wait_for_termination()

    def stop(self, grace: float = 1.0) -> None:
        for handler in list(self._service.handlers):
            handler.close()
        self._server.stop(grace).wait()
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._grpc_pool.shutdown(wait=False, cancel_futures=True)
