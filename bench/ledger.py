"""Committed transactions per second and commit latency on devnet, with N concurrent clients.

    .venv/bin/python bench/ledger.py [--clients 1,32,128,256] [--seconds 8] [--procs 2]
                                     [--batch-size 100] [--batch-timeout-ms 100] [--contract]

What is measured: each client is a thread that loops `contract.submit_transaction(...)` — build
and sign a proposal, Endorse (devnet verifies the proposal signature and creator, simulates,
signs the endorsement), sign the envelope, Submit (devnet verifies the envelope signature and
the endorsement, orders), CommitStatus (signed request, verified; waits for the block to be on
disk). So in-flight transactions = clients. Clients are spread over `--procs` processes so that
client-side Python does not serialise on one GIL; devnet is one process. Everything shares the
machine's cores. Throughput counts transactions whose commit was confirmed inside the
measurement window (after a warm-up); latency is the whole submit_transaction call.

Baselines in the same run: the raw rate of ECDSA P-256 verifications on one core (devnet does
three per transaction: proposal, envelope, commit-status request), and the same flow with
batch size 1 (one block, one fsync per transaction).

Workloads: `counter` (network.devnet.counter: Put of a fresh key, the raw ledger path) and,
with --contract, the governance contract's RegisterDataset (a fresh dataset per transaction,
as a member admin, after InitCharter).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PASSPHRASE = b"bench-passphrase"


def _dataset_spec(name: str) -> str:
    return json.dumps(
        {
            "name": name,
            "schema": [{"name": "id", "type": "string"}, {"name": "amount", "type": "integer"}],
            "row_count": 1000,
            "fingerprint": "sha256:" + "ab" * 32,
            "description": "bench",
            "tags": [],
        }
    )


def _worker(
    net_dir: str,
    address: str,
    org: str,
    user: str,
    threads: int,
    workload: str,
    start_at: float,
    measure_from: float,
    stop_at: float,
    tag: str,
    out: mp.Queue,
) -> None:
    from alliance.wallet import devnet_tls, load_user
    from network.gateway import connect

    identity, signer = load_user(Path(net_dir), org, user, PASSPHRASE)
    tls = devnet_tls(Path(net_dir))
    gw = connect(address, identity=identity, signer=signer, tls_root_certs=tls.root_certs)
    contract = gw.get_network("alliance").get_contract("alliance")
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def run(index: int) -> None:
        n = 0
        mine: list[float] = []
        while time.time() < start_at:
            time.sleep(0.001)
        while True:
            t0 = time.time()
            if t0 >= stop_at:
                break
            n += 1
            try:
                if workload == "counter":
                    contract.submit_transaction("Put", f"{tag}-{index}-{n}", "x" * 64)
                else:
                    contract.submit_transaction(
                        "RegisterDataset", _dataset_spec(f"d{tag}t{index}n{n}".replace("-", ""))
                    )
            except Exception as exc:
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}")
                continue
            t1 = time.time()
            if measure_from <= t1 <= stop_at:
                mine.append(t1 - t0)
        with lock:
            latencies.extend(mine)

    pool = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    gw.close()
    out.put((latencies, errors[:5], len(errors)))


def run_load(
    net_dir: Path,
    address: str,
    clients: int,
    procs: int,
    seconds: float,
    workload: str,
    org: str,
    user: str,
) -> dict:
    ctx = mp.get_context("spawn")
    out: mp.Queue = ctx.Queue()
    procs = max(1, min(procs, clients))
    per = [clients // procs + (1 if i < clients % procs else 0) for i in range(procs)]
    warmup = 2.0
    start_at = time.time() + 3.0  # let the workers load keys and connect
    measure_from = start_at + warmup
    stop_at = measure_from + seconds
    tag = f"c{clients}-{int(time.time() * 1000) % 100000}"
    workers = [
        ctx.Process(
            target=_worker,
            args=(
                str(net_dir),
                address,
                org,
                user,
                n,
                workload,
                start_at,
                measure_from,
                stop_at,
                f"{tag}-{i}",
                out,
            ),
        )
        for i, n in enumerate(per)
        if n
    ]
    for w in workers:
        w.start()
    lat: list[float] = []
    samples: list[str] = []
    nerr = 0
    for _ in workers:
        latencies, errs, count = out.get()
        lat.extend(latencies)
        samples.extend(errs)
        nerr += count
    for w in workers:
        w.join()
    lat.sort()

    def pct(p: float) -> float:
        return lat[min(len(lat) - 1, int(p * len(lat)))] * 1000 if lat else float("nan")

    return {
        "clients": clients,
        "tps": len(lat) / seconds,
        "p50": pct(0.50),
        "p99": pct(0.99),
        "errors": nerr,
        "error_samples": samples[:3],
    }


def verify_rate(seconds: float = 1.0) -> float:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    msg = os.urandom(600)
    sig = key.sign(msg, ec.ECDSA(hashes.SHA256()))
    pub = key.public_key()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        pub.verify(sig, msg, ec.ECDSA(hashes.SHA256()))
        n += 1
    return n / (time.perf_counter() - t0)


def _init_charter(net_dir: Path, address: str) -> None:
    from alliance.wallet import devnet_tls, load_user
    from network.gateway import connect

    identity, signer = load_user(net_dir, "bank", "admin", PASSPHRASE)
    tls = devnet_tls(net_dir)
    with connect(address, identity=identity, signer=signer, tls_root_certs=tls.root_certs) as gw:
        contract = gw.get_network("alliance").get_contract("alliance")
        contract.submit_transaction("InitCharter", (net_dir / "charter.json").read_text())


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", default="1,32,128,256")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--procs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--batch-timeout-ms", type=int, default=250)
    parser.add_argument("--contract", action="store_true", help="also run the governance contract")
    parser.add_argument("--no-baseline", action="store_true", help="skip the batch-size-1 baseline")
    args = parser.parse_args()

    from alliance.network_init import init_network
    from network.devnet.launcher import start_devnet, stop_devnet

    os.environ["ALLIANCE_PASSPHRASE"] = PASSPHRASE.decode()
    clients = [int(c) for c in args.clients.split(",")]
    rows: list[tuple[str, dict]] = []
    print(
        f"ECDSA P-256 verify, one core: {verify_rate():,.0f}/s "
        f"(devnet verifies 3 per transaction, so the pure-verify ceiling is about a third)"
    )

    def series(
        label: str, batch_size: int, router: str, workload: str, counts: list[int], user: str
    ) -> None:
        with tempfile.TemporaryDirectory(prefix="alliance-bench-") as tmp:
            net_dir = Path(tmp) / "net"
            init_network(
                net_dir,
                members=["bank", "telecom", "platform"],
                auditors=["regulator"],
                passphrase=PASSPHRASE,
            )
            proc = start_devnet(
                net_dir,
                batch_size=batch_size,
                batch_timeout_ms=args.batch_timeout_ms,
                router=router,
            )
            try:
                if workload == "contract":
                    _init_charter(net_dir, proc.address)
                for n in counts:
                    result = run_load(
                        net_dir, proc.address, n, args.procs, args.seconds, workload, "bank", user
                    )
                    rows.append((label, result))
                    _print_row(label, result)
            finally:
                stop_devnet(net_dir)

    print(
        f"\n{'workload':<34}{'clients=in-flight':>18}{'tx/s':>9}"
        f"{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}"
    )
    series(
        f"counter batch {args.batch_size}/{args.batch_timeout_ms}ms",
        args.batch_size,
        "network.devnet.counter:router",
        "counter",
        clients,
        "client",
    )
    if args.contract:
        series(
            f"RegisterDataset batch {args.batch_size}",
            args.batch_size,
            "",
            "contract",
            [c for c in clients if c >= 32] or clients,
            "admin",
        )
    if not args.no_baseline:
        series(
            "baseline: counter batch size 1",
            1,
            "network.devnet.counter:router",
            "counter",
            [c for c in clients if c in (1, 128)] or clients[:1],
            "client",
        )
    return 0


def _print_row(label: str, r: dict) -> None:
    print(
        f"{label:<34}{r['clients']:>18}{r['tps']:>9.0f}{r['p50']:>9.1f}{r['p99']:>9.1f}{r['errors']:>8}",
        flush=True,
    )
    for s in r["error_samples"]:
        print(f"    error: {s[:200]}", flush=True)


if __name__ == "__main__":
    statistics.mean([1])  # keep the import meaningful for readers of the output
    sys.exit(main())
