"""Alliance: consortium data sharing governed by a blockchain (the member-facing library and
CLI)."""

from alliance import grpc_engine  # noqa: F401  (gRPC's I/O path, chosen before grpc loads)
