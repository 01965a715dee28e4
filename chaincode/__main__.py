"""`python -m chaincode serve`: run the governance contract as a chaincode service for a peer.

    python -m chaincode serve --address 127.0.0.1:9999 --id alliance_1.0:abc...
        [--tls-cert server.crt --tls-key server.key [--tls-client-ca ca.crt]]

`CHAINCODE_SERVER_ADDRESS` and `CHAINCODE_ID` (as Fabric's CCaaS samples name them) are honoured
when the options are absent. Stops cleanly on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m chaincode")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the contract to a Fabric peer (CCaaS)")
    serve.add_argument("--address", default=os.environ.get("CHAINCODE_SERVER_ADDRESS", ""))
    serve.add_argument("--id", dest="chaincode_id", default=os.environ.get("CHAINCODE_ID", ""))
    serve.add_argument("--tls-cert", type=Path)
    serve.add_argument("--tls-key", type=Path)
    serve.add_argument("--tls-client-ca", type=Path)
    serve.add_argument("--log-level", default=os.environ.get("CHAINCODE_LOG_LEVEL", "INFO"))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if not args.address or not args.chaincode_id:
        print(
            "python -m chaincode serve needs --address HOST:PORT and --id PACKAGE_ID "
            "(or CHAINCODE_SERVER_ADDRESS and CHAINCODE_ID)",
            file=sys.stderr,
        )
        return 2
    from chaincode import default_router
    from chaincode.shim import ChaincodeServer, ServerTls

    tls = None
    if args.tls_cert or args.tls_key:
        if not (args.tls_cert and args.tls_key):
            print("give both --tls-cert and --tls-key (or neither)", file=sys.stderr)
            return 2
        tls = ServerTls(
            cert_chain=args.tls_cert.read_bytes(),
            private_key=args.tls_key.read_bytes(),
            client_ca=args.tls_client_ca.read_bytes() if args.tls_client_ca else None,
        )
    try:
        server = ChaincodeServer(
            default_router(), chaincode_id=args.chaincode_id, address=args.address, tls=tls
        )
    except (OSError, RuntimeError) as exc:
        print(f"cannot serve the chaincode on {args.address}: {exc}", file=sys.stderr)
        return 1
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    server.start()
    print(f"chaincode {args.chaincode_id} serving on {args.address}", flush=True)
    stop.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
