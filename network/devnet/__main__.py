"""`python -m network.devnet --dir NET [--port P] [--batch-size N] [--batch-timeout-ms T]`."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import sys
from pathlib import Path

from network.devnet.server import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_BATCH_TIMEOUT_MS,
    DevnetConfig,
    default_router,
    serve,
)
from network.errors import LedgerIntegrityError


def _load_router(spec: str):
    module_name, _, attr = spec.partition(":")
    if not attr:
        raise SystemExit(f"--router must be module:function, got {spec!r}")
    return getattr(importlib.import_module(module_name), attr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m network.devnet", description="Run the embedded ledger (devnet)."
    )
    parser.add_argument("--dir", required=True, type=Path, help="network directory (NET)")
    parser.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0: free)")
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
    parser.add_argument("--batch-timeout-ms", type=int, default=DEFAULT_BATCH_TIMEOUT_MS)
    parser.add_argument(
        "--router",
        default="",
        help="module:function returning the contract router (default: chaincode.default_router)",
    )
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    config = DevnetConfig(
        net_dir=args.dir,
        port=args.port,
        batch_size=args.batch_size,
        batch_timeout_ms=args.batch_timeout_ms,
    )
    try:
        factory = _load_router(args.router) if args.router else default_router
        asyncio.run(serve(config, factory))
    except KeyboardInterrupt:
        return 130
    except LedgerIntegrityError as exc:
        logging.getLogger("network.devnet").error("devnet refuses to start: %s", exc)
        return 1
    except Exception as exc:
        logging.getLogger("network.devnet").exception("devnet failed: %s", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
