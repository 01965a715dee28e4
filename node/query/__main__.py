"""`python -m node.query --dir NET --as ORG`: run ORG's governed query server until SIGTERM.

Started by `alliance network up` on the charter's two query servers (node/query/launcher.py).
The key passphrase comes from ALLIANCE_PASSPHRASE.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m node.query", description=__doc__)
    parser.add_argument("--dir", type=Path, required=True, help="the network directory")
    parser.add_argument("--as", dest="org", required=True, help="the member running the server")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from alliance.keystore import get_passphrase
    from node.query.service import GovernedServer

    stop = threading.Event()
    for s in (signal.SIGTERM, signal.SIGINT):
        signal.signal(s, lambda *_: stop.set())
    service = GovernedServer(args.dir, args.org, get_passphrase()).start()
    assert service.server is not None
    from node.query.server import settle_heap

    settle_heap()
    print(f"query server {args.org} ready on port {service.server.port}", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        service.stop()
    print(f"query server {args.org} stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
