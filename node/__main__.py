"""`python -m node --dir NET --as ORG`: run one member's node until SIGTERM/SIGINT, or SIGUSR1.

SIGTERM/SIGINT stop at once (running jobs are aborted and fail with node_stopped); SIGUSR1 drains
first: no new job starts, the runs in progress finish (up to the job deadline), then the node
stops; the jobs it did not start are picked up by the next start (`alliance node restart`).

The launcher (`node.launcher.start_node`) starts this in the background; `alliance node run` runs
the same daemon in the foreground. The key passphrase comes from ALLIANCE_PASSPHRASE.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path

from alliance.durations import positive_seconds


def serve(
    net_dir: Path, org: str, *, job_deadline: float = 120.0, step_timeout: float = 30.0,
    connect_timeout: float = 15.0,
) -> int:
    from alliance.keystore import get_passphrase
    from node.daemon import NodeDaemon

    passphrase = get_passphrase()  # once: the daemon unlocks several keys with it
    stop = threading.Event()
    drain = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        if signum == signal.SIGUSR1:
            drain.set()
        stop.set()

    previous = {s: signal.signal(s, on_signal)
                for s in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1)}
    daemon = NodeDaemon(net_dir, org, passphrase, job_deadline=job_deadline,
                        step_timeout=step_timeout, connect_timeout=connect_timeout)
    try:
        daemon.start()
        print(f"node {org} ready: MPC on port {daemon.port}", flush=True)
        while not stop.wait(0.5):
            pass
        if drain.is_set():
            print(f"node {org} draining: no new job starts, running ones finish", flush=True)
            daemon.drain(job_deadline)
    finally:
        daemon.shutdown()
        for s, handler in previous.items():
            signal.signal(s, handler)
    print(f"node {org} stopped", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m node", description=__doc__)
    parser.add_argument("--dir", type=Path, required=True, help="the network directory")
    parser.add_argument("--as", dest="org", required=True, help="the member org this node serves")
    parser.add_argument("--job-deadline", type=positive_seconds, default=120.0,
                        help="longest a protocol run may take, in seconds")
    parser.add_argument("--step-timeout", type=positive_seconds, default=30.0,
                        help="longest wait for one protocol message, in seconds")
    parser.add_argument("--connect-timeout", type=positive_seconds, default=15.0,
                        help="longest wait for a peer's node to link up for a job, in seconds")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    return serve(args.dir, args.org, job_deadline=args.job_deadline,
                 step_timeout=args.step_timeout, connect_timeout=args.connect_timeout)


if __name__ == "__main__":
    sys.exit(main())
