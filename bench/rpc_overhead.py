"""Benchmark: what one gRPC call with mutual TLS costs in CPU, the way the query service calls
(a unary call per batch of lookups, the sync server) beside the two ways it could call instead:
one long-lived bidirectional stream per member and server, or the asyncio server.

Why: a lookup's CPU at 2^20 applicants and 200 lookups/s is ~3 ms per server and ~2.4 ms at
the asker (bench/query.py); how much of it is gRPC's own, and would a stream or grpc.aio remove
enough of it to matter? Each mode: a server process (echo of the first 64 bytes) and this
process's client threads calling it at a fixed pace with a payload of a lookup batch's size;
server CPU (its process time) and client CPU (this process's) per call, and the calls' p50/p99.

`--asker` measures instead how the asker reaches both servers in one round (a call to each at
once, two server processes): the service's way (A's call from the calling thread, B's on a pool
thread) beside B's call as gRPC's own future, both calls one after the other from one thread,
both as grpc.aio calls on an event loop thread, and a message on a bidirectional stream kept
open to each server (both put, both answers read by the calling thread: no reader thread; tried
in the service and not kept, bench/README.md); per round: the client's CPU, each server's,
p50/p99. Payloads alternate between a batch's first round (6,000 B) and its second (60,000 B),
at 80 rounds/s (one member's node at 100 lookups/s in batches of ~2.5). The sync server
serves the calls and the streams alike.

Every mode runs on the I/O path the project chooses for gRPC (alliance/grpc_engine.py: the
EventEngine's listener and client connections turned off). `--engines` measures instead the
service's unary call on that path beside gRPC's defaults (the named baseline), each in a fresh
interpreter, since gRPC reads the choice once, at import.

    nice -n 10 .venv/bin/python bench/rpc_overhead.py [--calls 4000] [--rate 400] [--rounds 2]
    nice -n 10 .venv/bin/python bench/rpc_overhead.py --asker [--calls 3000] [--rounds 2]
    nice -n 10 .venv/bin/python bench/rpc_overhead.py --engines [--calls 3000] [--rounds 4]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import multiprocessing as mp
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from multiprocessing.connection import Connection
from typing import Any

import alliance.grpc_engine  # before grpc: gRPC's I/O path is chosen as grpc loads

# isort: split
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


def _latency_ms(latencies: list[float]) -> dict[str, float]:
    """p50 and p99 of latencies in seconds, in ms."""
    ordered = sorted(latencies)
    return {"p50_ms": ordered[len(ordered) // 2] * 1e3,
            "p99_ms": ordered[int(len(ordered) * 0.99)] * 1e3}


def _start_server(mode: str, port: int, key: bytes, cert: bytes
                  ) -> tuple[mp.process.BaseProcess, Connection]:
    """An echo server process of `mode` listening on `port`, once it is up: (process, the pipe
    that marks its CPU)."""
    ours, theirs = mp.Pipe()
    server = mp.get_context("spawn").Process(target=serve, args=(mode, port, key, cert, theirs),
                                             daemon=True)
    server.start()
    ours.recv()
    return server, ours


def _client_tls(key: bytes, cert: bytes) -> grpc.ChannelCredentials:
    return grpc.ssl_channel_credentials(root_certificates=cert, private_key=key,
                                        certificate_chain=cert)


def measure(mode: str, calls: int, rate: float, key: bytes, cert: bytes) -> dict[str, float]:
    port = 40000 + (os.getpid() * 7 + MODES.index(mode)) % 20000
    server, ours = _start_server(mode, port, key, cert)
    channel = grpc.secure_channel(f"localhost:{port}", _client_tls(key, cert))
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
    return {"server_us": (server_after - server_before) / done * 1e6,
            "client_us": (client_after - client_before) / done * 1e6, **_latency_ms(latencies)}


ASKER_MODES = ("pool", "future", "sequential", "aio-client", "streams")
"""pool: the service's way (QueryClient._send_both); future: B's call as gRPC's future;
sequential: A's call, then B's, from the calling thread; aio-client: grpc.aio calls gathered on
an event loop thread the calling thread hands the round to; streams: one stream open to each
server, the round's two messages put on them and both answers read by the calling thread."""
ROUND_PAYLOADS = (6000, 60000)
ROUND_RATE = 80.0


def _round_caller(mode: str, ports: list[int], key: bytes, cert: bytes
                  ) -> tuple[Callable[[bytes], object], Callable[[], None]]:
    """(one round: a call to each server with the payload, close)."""
    if mode == "aio-client":
        loop = asyncio.new_event_loop()
        threading.Thread(target=loop.run_forever, daemon=True).start()

        async def open_channels() -> list[Any]:
            return [grpc.aio.secure_channel(f"localhost:{port}", _client_tls(key, cert))
                    for port in ports]

        async def close_channels() -> None:
            for channel in aio_channels:
                await channel.close()

        aio_channels = asyncio.run_coroutine_threadsafe(open_channels(), loop).result()
        stubs = [channel.unary_unary("/bench.Echo/Unary") for channel in aio_channels]

        async def both(payload: bytes) -> list[bytes]:
            return list(await asyncio.gather(*(stub(payload, timeout=30) for stub in stubs)))

        def close_aio() -> None:
            asyncio.run_coroutine_threadsafe(close_channels(), loop).result()
            loop.call_soon_threadsafe(loop.stop)

        return (lambda payload: asyncio.run_coroutine_threadsafe(both(payload), loop).result(),
                close_aio)
    channels = [grpc.secure_channel(f"localhost:{port}", _client_tls(key, cert)) for port in ports]
    a, b = (channel.unary_unary("/bench.Echo/Unary") for channel in channels)
    pool = ThreadPoolExecutor(max_workers=4)

    def close() -> None:
        pool.shutdown()
        for channel in channels:
            channel.close()

    if mode == "streams":
        outgoing: list[queue.SimpleQueue[bytes | None]] = [queue.SimpleQueue() for _ in ports]
        replies = [channel.stream_stream("/bench.Echo/Stream")(iter(out.get, None))
                   for channel, out in zip(channels, outgoing, strict=True)]

        def streamed(payload: bytes) -> object:
            for out in outgoing:
                out.put(payload)
            return [next(reply) for reply in replies]

        def close_streams() -> None:
            for out in outgoing:
                out.put(None)
            for reply in replies:
                reply.cancel()
            close()

        return streamed, close_streams
    if mode == "pool":
        def call(payload: bytes) -> object:
            from_b = pool.submit(b, payload, timeout=30)
            return a(payload, timeout=30), from_b.result()
    elif mode == "future":
        def call(payload: bytes) -> object:
            from_b = b.future(payload, timeout=30)
            return a(payload, timeout=30), from_b.result()
    else:
        def call(payload: bytes) -> object:
            return a(payload, timeout=30), b(payload, timeout=30)
    return call, close


def measure_round(mode: str, rounds: int, key: bytes, cert: bytes) -> dict[str, float]:
    """One asker mode against two fresh server processes: CPU per round and its latency."""
    servers = []
    for i in range(2):
        port = 40000 + (os.getpid() * 7 + 10 + 2 * ASKER_MODES.index(mode) + i) % 20000
        servers.append((*_start_server("unary", port, key, cert), port))
    call, close = _round_caller(mode, [port for _, _, port in servers], key, cert)
    payloads = [os.urandom(size) for size in ROUND_PAYLOADS]
    for i in range(200):  # warm: the connections, the handshakes, the pools
        call(payloads[i % 2])
    for _, conn, _ in servers:
        conn.send("mark")
    server_before = [conn.recv() for _, conn, _ in servers]
    client_before, due = time.process_time(), time.perf_counter()
    latencies: list[float] = []
    for i in range(rounds):
        due += 1 / ROUND_RATE
        time.sleep(max(0.0, due - time.perf_counter()))
        started = time.perf_counter()
        call(payloads[i % 2])
        latencies.append(time.perf_counter() - started)
    client = time.process_time() - client_before
    for _, conn, _ in servers:
        conn.send("mark")
    server = [conn.recv() - before for (_, conn, _), before in zip(servers, server_before,
                                                                     strict=True)]
    close()
    for process, _, _ in servers:
        process.terminate()
    return {"client_us": client / rounds * 1e6, "a_us": server[0] / rounds * 1e6,
            "b_us": server[1] / rounds * 1e6, **_latency_ms(latencies)}


def main_asker(rounds: int, repeat: int) -> None:
    key, cert = credentials()
    print(f"gRPC {grpc.__version__}, mutual TLS on loopback, {rounds} rounds at {ROUND_RATE:g}/s "
          f"(a call to each of 2 servers, payloads of {' and '.join(map(str, ROUND_PAYLOADS))} B "
          "in turn); per round:")
    print(f"{'mode':<12}{'client CPU us':>15}{'A CPU us':>10}{'B CPU us':>10}{'p50 ms':>9}"
          f"{'p99 ms':>9}")
    for _ in range(repeat):
        for mode in ASKER_MODES:
            row = measure_round(mode, rounds, key, cert)
            print(f"{mode:<12}{row['client_us']:>15.0f}{row['a_us']:>10.0f}{row['b_us']:>10.0f}"
                  f"{row['p50_ms']:>9.2f}{row['p99_ms']:>9.2f}", flush=True)


ENGINES = (("gRPC's defaults", ""), ("the project's", alliance.grpc_engine.OLDER_PATH))
"""(name, GRPC_EXPERIMENTS): an empty value keeps gRPC's defaults (alliance/grpc_engine.py)."""


def main_engines(calls: int, rate: float, repeat: int) -> None:
    """The unary call on each I/O path, each run in a fresh interpreter, interleaved."""
    print(f"gRPC {grpc.__version__}, mutual TLS on loopback, unary calls of {PAYLOAD} B at "
          f"{rate:g}/s from {THREADS} threads; per call, by gRPC's I/O path:")
    print(f"{'path':<18}{'server CPU us':>15}{'client CPU us':>15}{'p50 ms':>9}{'p99 ms':>9}")
    for _ in range(repeat):
        for name, experiments in ENGINES:
            done = subprocess.run(
                [sys.executable, __file__, "--unary-json", "--calls", str(calls),
                 "--rate", str(rate)], env={**os.environ, "GRPC_EXPERIMENTS": experiments},
                capture_output=True, text=True, check=True)
            row = json.loads(done.stdout.strip().splitlines()[-1])
            print(f"{name:<18}{row['server_us']:>15.0f}{row['client_us']:>15.0f}"
                  f"{row['p50_ms']:>9.2f}{row['p99_ms']:>9.2f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=None,
                        help="calls per mode (4000), or rounds with --asker (3000)")
    parser.add_argument("--rate", type=float, default=400.0,
                        help="calls per second (--asker: always 80 rounds/s)")
    parser.add_argument("--rounds", type=int, default=None, help="each mode this many times, "
                        "interleaved (2; --engines: 4)")
    parser.add_argument("--asker", action="store_true",
                        help="how the asker calls both servers in a round (see above)")
    parser.add_argument("--engines", action="store_true",
                        help="the unary call on the project's I/O path beside gRPC's defaults")
    parser.add_argument("--unary-json", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.unary_json:  # one measurement for --engines, on this interpreter's path
        key, cert = credentials()
        print(json.dumps(measure("unary", args.calls or 3000, args.rate, key, cert)))
        return
    if args.engines:
        main_engines(args.calls or 3000, args.rate, args.rounds or 4)
        return
    if args.asker:
        main_asker(args.calls or 3000, args.rounds or 2)
        return
    args.calls = args.calls or 4000
    key, cert = credentials()
    print(f"gRPC {grpc.__version__}, mutual TLS on loopback, {args.calls} calls of {PAYLOAD} B "
          f"at {args.rate:g}/s from {THREADS} threads; per call:")
    print(f"{'mode':<12}{'server CPU us':>15}{'client CPU us':>15}{'p50 ms':>9}{'p99 ms':>9}")
    for _ in range(args.rounds or 2):
        for mode in MODES:
            row = measure(mode, args.calls, args.rate, key, cert)
            print(f"{mode:<12}{row['server_us']:>15.0f}{row['client_us']:>15.0f}"
                  f"{row['p50_ms']:>9.2f}{row['p99_ms']:>9.2f}", flush=True)


if __name__ == "__main__":
    main()
