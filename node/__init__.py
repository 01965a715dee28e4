"""A member's node: its datasets, the executors of authorized jobs, the query service."""

import alliance.grpc_engine  # noqa: F401  (gRPC's I/O path, chosen before grpc loads)
