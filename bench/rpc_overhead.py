"""Benchmark: what one gRPC call with mutual TLS costs in CPU, the way the query service calls
(a unary call per batch of lookups, the sync server) beside the two ways it could call instead:
one long-lived bidirectional stream per member and server, or the asyncio server.

Why: a lookup's CPU at 2^20 applicants and 200 lookups/s is ~3 ms per server and ~2.4 ms at
the asker (bench/query.py); how much of it is gRPC's own, and would a stream or grpc.aio remove
enough of it to matter? Each mode: a server process (echo of the first 64 bytes) and this
process's client threads calling it at a fixed pace with a payload of a lookup batch's size;
server CPU (its process time) and client CPU (this process's) per call, and the calls' p50/p99.

    nice -n 10 .venv/bin/python bench/rpc_overhead.py [--calls 4000] [--rate 400] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import multiprocessing as mp
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from multiprocessing.connection import Connection
from typing import Any

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

MODES = ("unary", "stream", "aio-server")
"""unary: the service's way (the baseline); stream: one bidi stream, the sync server; aio-server:
unary calls to grpc.aio's server."""
PAYLOAD = 2000
THREADS = 8


def credentials() -> tuple[bytes, bytes]:
    """A throw-away self-signed P-256 certificate for localhost (its own CA), and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(dt.datetime(2020, 1, 1)).not_valid_after(dt.datetime(2040, 1, 1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    return (key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()),
            cert.public_bytes(serialization.Encoding.PEM))


def _echo(request: bytes, _: Any) -> bytes:
    return request[:64]


def _stream_echo(requests: Iterator[bytes], _: Any) -> Iterator[bytes]:
    for request in requests:
        yield request[:64]


def _handlers() -> Any:
    return grpc.method_handlers_generic_handler("bench.Echo", {
        "Unary": grpc.unary_unary_rpc_method_handler(_echo),
        "Stream": grpc.stream_stream_rpc_method_handler(_stream_echo)})


def _report_cpu(conn: Connection) -> None:
    """Answer the client's two marks with this process's CPU time."""
    for _ in range(2):
        conn.recv()
        conn.send(time.process_time())


def serve(mode: str, port: int, key: bytes, cert: bytes, conn: Connection) -> None:
    tls = grpc.ssl_server_credentials([(key, cert)], root_certificates=cert,
                                      require_client_auth=True)
    if mode != "aio-server":
        server = grpc.server(ThreadPoolExecutor(max_workers=16))
        server.add_generic_rpc_handlers((_handlers(),))
        server.add_secure_port(f"localhost:{port}", tls)
        server.start()
        conn.send("up")
        _report_cpu(conn)
        return

    async def main() -> None:
        async def echo(request: bytes, _: Any) -> bytes:
            return request[:64]

        server = grpc.aio.server()
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
            "bench.Echo", {"Unary": grpc.unary_unary_rpc_method_handler(echo)}),))
        server.add_secure_port(f"localhost:{port}", tls)
        await server.start()
        conn.send("up")
        await asyncio.get_running_loop().run_in_executor(None, _report_cpu, conn)

    asyncio.run(main())


def _stream_caller(channel: grpc.Channel) -> Callable[[bytes], bytes]:
    """Calls over one stream: requests in order, each answered in order (a reader thread)."""
    outgoing: queue.Queue[bytes | None] = queue.Queue()
    waiting: queue.Queue[Future[bytes]] = queue.Queue()
    lock = threading.Lock()
    replies = channel.stream_stream("/bench.Echo/Stream")(iter(outgoing.get, None))

    def read() -> None:
        try:
            for reply in replies:
                waiting.get().set_result(reply)
        except grpc.RpcError:
            pass  # the channel closed at the end of the mode

    threading.Thread(target=read, daemon=True).start()

    def call(payload: bytes) -> bytes:
        future: Future[bytes] = Future()
        with lock:
            waiting.put(future)
            outgoing.put(payload)
        return future.result(timeout=30)

    return call


def measure(mode: str, calls: int, rate: float, key: bytes, cert: bytes) -> dict[str, float]:
    port = 40000 + (os.getpid() * 7 + MODES.index(mode)) % 20000
    ours, theirs = mp.Pipe()
    server = mp.get_context("spawn").Process(target=serve, args=(mode, port, key, cert, theirs),
                                             daemon=True)
    server.start()
    ours.recv()
    channel = grpc.secure_channel(f"localhost:{port}", grpc.ssl_channel_credentials(
        root_certificates=cert, private_key=key, certificate_chain=cert))
    unary = channel.unary_unary("/bench.Echo/Unary")
    call = _stream_caller(channel) if mode == "stream" else (lambda p: unary(p, timeout=30))
    payload = os.urandom(PAYLOAD)
    for _ in range(200):  # warm: the connection, the handshake, the pools
        call(payload)
    latencies: list[float] = []

    def paced(offset: float) -> None:
        due = time.perf_counter() + offset
        for _ in range(calls // THREADS):
            due += THREADS / rate
            time.sleep(max(0.0, due - time.perf_counter()))
            started = time.perf_counter()
            call(payload)
            latencies.append(time.perf_counter() - started)

    ours.send("mark")
    server_before, client_before = ours.recv(), time.process_time()
    threads = [threading.Thread(target=paced, args=(i / rate,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ours.send("mark")
    server_after, client_after = ours.recv(), time.process_time()
    channel.close()
    server.terminate()
    done = len(latencies)
    latencies.sort()
    return {"server_us": (server_after - server_before) / done * 1e6,
            "client_us": (client_after - client_before) / done * 1e6,
            "p50_ms": latencies[done // 2] * 1e3, "p99_ms": latencies[int(done * 0.99)] * 1e3}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=4000)
    parser.add_argument("--rate", type=float, default=400.0, help="calls per second")
    parser.add_argument("--rounds", type=int, default=2, help="each mode this many times, "
                        "interleaved")
    args = parser.parse_args()
    key, cert = credentials()
    print(f"gRPC {grpc.__version__}, mutual TLS on loopback, {args.calls} calls of {PAYLOAD} B "
          f"at {args.rate:g}/s from {THREADS} threads; per call:")
    print(f"{'mode':<12}{'server CPU us':>15}{'client CPU us':>15}{'p50 ms':>9}{'p99 ms':>9}")
    for _ in range(args.rounds):
        for mode in MODES:
            row = measure(mode, args.calls, args.rate, key, cert)
            print(f"{mode:<12}{row['server_us']:>15.0f}{row['client_us']:>15.0f}"
                  f"{row['p50_ms']:>9.2f}{row['p99_ms']:>9.2f}", flush=True)


if __name__ == "__main__":
    main()
