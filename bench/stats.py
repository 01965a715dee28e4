"""Benchmark: secure element-wise sum of three aligned columns held by three parties.

Each party (bank, platform, telecom) is a separate process with its own MpcServer; they talk gRPC
with mutual TLS on loopback, using the certificates of a throw-away alliance made by
`alliance network init`. The result goes to one recipient (bank). The same sum in the clear
(numpy, one process) is timed in the same run and checked against the secure result.

    .venv/bin/python bench/stats.py [--rows 10000000] [--scale-bits 16]

Target on a 2-core machine: <= 5 s end to end, <= 1.5 GB peak RSS per party.
"""

from __future__ import annotations

import argparse
import functools
import tempfile
import time
from pathlib import Path

import numpy as np

from alliance.network_init import init_network
from node.mpc.grpc_party import PartySpec, run_parties
from node.mpc.protocol import InputRef, JobContext, LocalInputs

PARTIES = ("bank", "platform", "telecom")
RECIPIENT = "bank"
PASSPHRASE = b"bench-stats-throwaway"


def column(org: str, rows: int) -> np.ndarray:
    """The party's synthetic exposure column (amounts with cents), seeded by its name."""
    rng = np.random.default_rng(sum(org.encode()) * 7919)
    return np.round(rng.gamma(2.0, 500.0, rows), 2)


def make_inputs(org: str, rows: int) -> LocalInputs:
    return {f"{org}/exposure:amount": column(org, rows)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--scale-bits", type=int, default=16)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-stats-") as tmp:
        net_dir = Path(tmp) / "net"
        init_network(net_dir, list(PARTIES), [], PASSPHRASE)
        job = JobContext(
            job_id="bench-elementwise", protocol="stats",
            parameters={"op": "elementwise_sum", "scale_bits": str(args.scale_bits)},
            inputs=tuple(InputRef(org, "exposure", "amount") for org in PARTIES),
            outputs={"result": (RECIPIENT,)}, participants=PARTIES,
        )
        specs = [
            PartySpec(str(net_dir), org, PASSPHRASE, job,
                      functools.partial(make_inputs, org, args.rows), step_timeout=120.0,
                      output_dir=tmp)
            for org in PARTIES
        ]
        started = time.perf_counter()
        outcomes = run_parties(specs, timeout=600.0)
        total = time.perf_counter() - started
        failed = {org: o for org, o in outcomes.items() if not o.get("ok")}
        if failed:
            raise SystemExit(f"secure run failed: {failed}")
        secure = np.load(outcomes[RECIPIENT]["outputs"]["result"])


    columns = [column(org, args.rows) for org in PARTIES]
    clear_start = time.perf_counter()
    clear = columns[0] + columns[1] + columns[2]
    clear_seconds = time.perf_counter() - clear_start
    error = float(np.abs(secure - clear).max())

    wall = outcomes[RECIPIENT]["wall_seconds"]
    print(f"secure element-wise sum of 3 x {args.rows:,} rows, result to {RECIPIENT}, "
          f"gRPC + mutual TLS on loopback, scale 2^{args.scale_bits}")
    print(f"{'':24}{'wall s':>10}{'sent MB':>12}{'peak RSS MB':>14}")
    for org in PARTIES:
        o = outcomes[org]
        print(f"{'secure: ' + org:24}{o['seconds']:>10.2f}{o['bytes_sent'] / 1e6:>12.1f}"
              f"{o['peak_rss_bytes'] / 1e6:>14.0f}")
    print(f"{'secure: protocol (all)':24}{wall:>10.2f}"
          f"{sum(o['bytes_sent'] for o in outcomes.values()) / 1e6:>12.1f}")
    print(f"{'secure: incl. startup':24}{total:>10.2f}")
    print(f"{'clear (numpy)':24}{clear_seconds:>10.3f}{0:>12.1f}")
    print(f"max |secure - clear| = {error:.2g}")


if __name__ == "__main__":
    main()
