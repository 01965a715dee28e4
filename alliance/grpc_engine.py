"""Which of gRPC's I/O paths this process's sockets use, chosen before gRPC is first imported.

gRPC's core reads `GRPC_EXPERIMENTS` once, when `grpc` is first imported. In recent grpcio the
connections it accepts and makes go through the EventEngine (the experiments
`event_engine_listener` and `event_engine_client`, on by default), which hands reads and writes
to threads of its own; the older path (iomgr) does them on the thread that polls for them.
Measured with mutual TLS on loopback (grpcio 1.85.3, bench/README.md), the older path takes
~15 % less CPU per unary call on the server and ~24 % less on the client, and answers sooner; a
query lookup is four such calls per batch. Both paths are gRPC's own and supported: only which
one serves the sockets changes.

Every package of this project imports this module first (each `__init__.py`), so the choice is
made before any of them imports `grpc`. A `GRPC_EXPERIMENTS` already in the environment (even
an empty one) is left as it is: that is how to keep gRPC's defaults.
"""

from __future__ import annotations

import os
import sys
from collections.abc import MutableMapping

OLDER_PATH = "-event_engine_listener,-event_engine_client"
"""The experiments turned off: the EventEngine's listener and client connections (grpcio knows
both names from 1.60 on, the oldest pyproject.toml allows; it logs an error at import for a
name it does not know, which tests/unit/test_grpc_engine.py checks it does not). Turning off
`event_engine_for_all_other_endpoints` as well saved nothing more."""


def choose(environ: MutableMapping[str, str], grpc_loaded: bool) -> bool:
    """Give `environ` the older path unless it names experiments already or gRPC is loaded
    (then the setting would reach only the processes this one starts); whether it did."""
    if grpc_loaded or "GRPC_EXPERIMENTS" in environ:
        return False
    environ["GRPC_EXPERIMENTS"] = OLDER_PATH
    return True


choose(os.environ, "grpc" in sys.modules)
