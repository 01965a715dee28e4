"""A devnet that writes the same blocks on every run, for the TUI's snapshot ledger (tui_ledger).

Devnet, like a Fabric peer, refuses a proposal whose timestamp is more than 15 minutes from its
clock, and its blocks carry its own signatures and nonces; the seeded records are dated at a
fixed moment and the audit screen shows the chain's head hash. So, loaded in the devnet process
by `--router pinned_devnet:router`: while `CLOCK_ENV` names a file holding Unix seconds,
devnet's clock reads that file (the real clock once the file is gone); its nonces are counted
and its ECDSA signatures deterministic (RFC 6979). Everything else is the real devnet and
contract.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from google.protobuf import timestamp_pb2

CLOCK_ENV = "ALLIANCE_TEST_PINNED_CLOCK"


class FileClock:
    """`time` as devnet's modules use it, with `time()` read from the file while it exists."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def time(self) -> float:
        try:
            return float(self.path.read_text())
        except (OSError, ValueError):
            return time.time()

    def timestamp(self) -> timestamp_pb2.Timestamp:
        return timestamp_pb2.Timestamp(seconds=int(self.time()))

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


def counted_nonces(start: int = 1) -> Callable[[], bytes]:
    numbers = itertools.count(start)
    return lambda: next(numbers).to_bytes(24, "big")


def deterministic_sign(self: Any, digest: bytes) -> bytes:
    """`EcdsaSigner.sign` with RFC 6979 nonces: the same signature for the same digest."""
    from alliance.signing import SignatureError, to_low_s

    if len(digest) != 32:
        raise SignatureError(f"sign() takes a 32-byte SHA-256 digest, got {len(digest)} bytes")
    algorithm = ec.ECDSA(Prehashed(hashes.SHA256()), deterministic_signing=True)
    return to_low_s(self._key.sign(digest, algorithm))


def _pin_this_process() -> None:
    from alliance.signing import EcdsaSigner
    from network import protoutil
    from network.devnet import deliver, service, txcheck

    clock = FileClock(Path(os.environ[CLOCK_ENV]))
    for module in (service, deliver, txcheck):
        module.time = clock  # type: ignore[attr-defined]
    protoutil.now_timestamp = clock.timestamp  # type: ignore[assignment]
    protoutil.new_nonce = counted_nonces(int(hashlib.sha256(b"devnet").hexdigest()[:8], 16))
    EcdsaSigner.sign = deterministic_sign  # type: ignore[method-assign]


def router() -> Any:
    """The contract's router, this process pinned first (devnet builds its router before it
    writes the genesis block or serves)."""
    from network.devnet.server import default_router

    _pin_this_process()
    return default_router()
