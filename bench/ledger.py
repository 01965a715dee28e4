"""Committed transactions per second and commit latency, with N concurrent clients, on devnet,
on a real Fabric 3 network, or on both in the same run.

    .venv/bin/python bench/ledger.py [--engine devnet|fabric|both] [--clients 1,32,128,256]
                                     [--seconds 8] [--procs 2] [--batch-size 100]
                                     [--batch-timeout-ms 250] [--contract]
                                     [--fabric-clients 32,128,256] [--fabric-gateways spread|one]
                                     [--auditors regulator]
                                     [--fabric-batch-timeout 250ms]
                                     [--rss-datasets 100000] [--baseline-code DIR]

What is measured: each client is a thread that loops `contract.submit_transaction(...)` — build
and sign a proposal, Endorse (devnet verifies the proposal signature and creator, simulates,
signs the endorsement), sign the envelope, Submit (devnet verifies the envelope signature and
the endorsement, orders), CommitStatus (signed request, verified; waits for the block to be on
disk). So in-flight transactions = clients. Clients are spread over `--procs` processes so that
client-side Python does not serialise on one GIL; devnet is one process. Everything shares the
machine's cores. Throughput counts transactions whose commit was confirmed inside the
measurement window (after a warm-up); latency is the whole submit_transaction call.

Baselines in the same run: the raw rate of ECDSA P-256 verifications on one core (devnet does
three per transaction: proposal, envelope, commit-status request), the same flow with batch
size 1 (one block, one fsync per transaction), and the counter at 128 in flight with the
commit's endorsement checks as they were before full verification (endorsements naming a known
peer trusted unverified) and with every endorsement signature ECDSA-verified (two more
verifications per transaction; by default devnet skips only its own signatures over the
identical bytes).

Workloads: `counter` (network.devnet.counter: Put of a fresh key, the raw ledger path) and,
with --contract, the governance contract's RegisterDataset (a fresh dataset per transaction,
as a member admin, after InitCharter).

Memory (`--rss-datasets N`): devnet with the governance contract, InitCharter, then N datasets
registered by `--rss-clients` concurrent clients; devnet's resident set size (VmRSS) is printed
at start (after the charter), every few seconds, and after the N datasets, beside the ledger
file's size. `--baseline-code DIR` runs every devnet series (throughput and memory) a second
time, in the same run, with devnet's code taken from DIR (e.g. `git archive main | tar -x -C
DIR`): before/after figures measured side by side on the same loaded machine.

Fabric (`--engine fabric`, FABRIC_BIN_DIR set): a fresh `alliance network init` (bank, telecom,
platform) started with `network.fabric.start_fabric` (one etcdraft orderer, one peer and one
chaincode server per org, the contract under the deployed endorsement policy, a strict majority of
the voting members' peers, so every transaction carries the endorsements of two of the three orgs,
collected by the Gateway of the peer the client talks to). Workload: RegisterDataset, as above.
With `--fabric-gateways spread` (the default) client thread i is an admin of org i mod 3 talking to
its own org's peer, so the three gateways share the work; `one` sends everything through the bank's
peer. For each Fabric series the CPU seconds each process (orderer, peers, chaincode servers,
clients) spent inside the measurement window are printed too, per committed transaction: that is
where the time goes. With `--engine both` the devnet series run first, then the Fabric ones, each
on its own fresh network in a temp dir. `--auditors regulator` adds an auditor org, whose peer
joins the channel and validates every block but does not endorse; the what-if `--fabric-batch-
timeout` overrides the orderer's BatchTimeout.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PASSPHRASE = b"bench-passphrase"
MEMBERS = ["bank", "telecom", "platform"]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Endpoint:
    """Where one group of clients sends its transactions, and as whom."""

    org: str
    user: str
    address: str
    tls_roots: bytes


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
    endpoints: list[Endpoint],
    channel: str,
    chaincode: str,
    threads: int,
    first_thread: int,
    workload: str,
    start_at: float,
    measure_from: float,
    stop_at: float,
    tag: str,
    out: mp.Queue,
) -> None:
    from alliance.wallet import load_user
    from network.gateway import connect

    gateways = []
    contracts = []
    for ep in endpoints:
        identity, signer = load_user(Path(net_dir), ep.org, ep.user, PASSPHRASE)
        gw = connect(ep.address, identity=identity, signer=signer, tls_root_certs=ep.tls_roots)
        gateways.append(gw)
        contracts.append(gw.get_network(channel).get_contract(chaincode))
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def run(index: int) -> None:
        contract = contracts[(first_thread + index) % len(contracts)]
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
    for gw in gateways:
        gw.close()
    out.put((latencies, errors[:5], len(errors)))


def _register_worker(
    net_dir: str, endpoint: Endpoint, threads: int, per_thread: int, tag: str, out: mp.Queue
) -> None:
    """`threads` threads each register `per_thread` fresh datasets; report errors."""
    from alliance.wallet import load_user
    from network.gateway import connect

    identity, signer = load_user(Path(net_dir), endpoint.org, endpoint.user, PASSPHRASE)
    gw = connect(
        endpoint.address, identity=identity, signer=signer, tls_root_certs=endpoint.tls_roots
    )
    contract = gw.get_network("alliance").get_contract("alliance")
    errors: list[str] = []
    lock = threading.Lock()

    def run(index: int) -> None:
        for n in range(per_thread):
            name = f"r{tag}t{index}n{n}".replace("-", "")
            try:
                contract.submit_transaction("RegisterDataset", _dataset_spec(name))
            except Exception as exc:
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}")

    pool = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    gw.close()
    out.put((errors[:3], len(errors)))


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def rss_series(args: argparse.Namespace, code: str) -> None:
    """Devnet's RSS at start and after `args.rss_datasets` datasets (see the module doc)."""
    from alliance.wallet import devnet_tls
    from network.devnet.launcher import start_devnet, stop_devnet
    from network.devnet.server import ledger_path

    label = f"devnet RSS, RegisterDataset x {args.rss_datasets:,}" + (f" [{code}]" if code else "")
    with tempfile.TemporaryDirectory(prefix="alliance-bench-rss-") as tmp:
        net_dir = _new_net(tmp, args.auditors)
        proc = start_devnet(
            net_dir,
            batch_size=args.batch_size,
            batch_timeout_ms=args.batch_timeout_ms,
            env={"PYTHONPATH": code or str(ROOT)},
        )
        try:
            roots = devnet_tls(net_dir).root_certs
            _init_charter(net_dir, Endpoint("bank", "admin", proc.address, roots))
            time.sleep(1.0)
            start_rss = _rss_mb(proc.pid)
            print(f"\n{label}: RSS at start (charter on the ledger) {start_rss:.0f} MB", flush=True)
            ctx = mp.get_context("spawn")
            out: mp.Queue = ctx.Queue()
            procs = max(1, args.procs)
            per_proc = max(1, args.rss_clients // procs)
            per_thread = -(-args.rss_datasets // (per_proc * procs))
            endpoint = Endpoint("bank", "admin", proc.address, roots)
            workers = [
                ctx.Process(
                    target=_register_worker,
                    args=(str(net_dir), endpoint, per_proc, per_thread, f"{i}", out),
                )
                for i in range(procs)
            ]
            t0 = time.time()
            for w in workers:
                w.start()
            peak = start_rss
            next_print = t0 + 15
            while any(w.is_alive() for w in workers):
                time.sleep(1.0)
                rss = _rss_mb(proc.pid)
                peak = max(peak, rss)
                if time.time() >= next_print:
                    next_print += 15
                    print(f"    {time.time() - t0:6.0f} s: RSS {rss:.0f} MB", flush=True)
            elapsed = time.time() - t0
            errors, samples = 0, []
            for _ in workers:
                errs, count = out.get()
                samples.extend(errs)
                errors += count
            for w in workers:
                w.join()
            time.sleep(1.0)
            end_rss = _rss_mb(proc.pid)
            done = per_thread * per_proc * procs - errors
            size = sum(p.stat().st_size for p in ledger_path(net_dir).parent.glob("ledger.sqlite*"))
            print(
                f"{label}: RSS at start {start_rss:.0f} MB, after {done:,} datasets "
                f"{end_rss:.0f} MB (peak {peak:.0f} MB); {done / elapsed:.0f} tx/s over "
                f"{elapsed:.0f} s with {per_proc * procs} in flight; ledger file "
                f"{size / 2**20:.0f} MB; errors {errors}",
                flush=True,
            )
            for s in samples:
                print(f"    error: {s[:200]}", flush=True)
        finally:
            stop_devnet(net_dir)


def _cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads) from /proc; 0 when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def run_load(
    net_dir: Path,
    endpoints: list[Endpoint],
    clients: int,
    procs: int,
    seconds: float,
    workload: str,
    watch: dict[str, int] | None = None,
    channel: str = "alliance",
    chaincode: str = "alliance",
) -> dict:
    """Run `clients` looping submitters for `seconds` (after a warm-up); tx/s and latencies.

    `watch` names processes (name -> pid) whose CPU time inside the window is reported."""
    ctx = mp.get_context("spawn")
    out: mp.Queue = ctx.Queue()
    procs = max(1, min(procs, clients))
    per = [clients // procs + (1 if i < clients % procs else 0) for i in range(procs)]
    firsts = [sum(per[:i]) for i in range(procs)]
    warmup = 2.0 if len(endpoints) == 1 else 3.0
    start_at = time.time() + 3.0  # let the workers load keys and connect
    measure_from = start_at + warmup
    stop_at = measure_from + seconds
    tag = f"c{clients}-{int(time.time() * 1000) % 100000}"
    workers = [
        ctx.Process(
            target=_worker,
            args=(
                str(net_dir),
                endpoints,
                channel,
                chaincode,
                n,
                firsts[i],
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
    watched = dict(watch or {})
    for i, w in enumerate(workers):
        watched[f"clients.{i}"] = w.pid or 0
    cpu: dict[str, float] = {}
    time.sleep(max(0.0, measure_from - time.time()))
    before = {name: _cpu_seconds(pid) for name, pid in watched.items()}
    time.sleep(max(0.0, stop_at - time.time()))
    cpu = {name: _cpu_seconds(pid) - before[name] for name, pid in watched.items()}
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
        "committed": len(lat),
        "cpu": cpu,
        "seconds": seconds,
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


def endorsement_check_cost(txs: int = 400) -> dict[str, float]:
    """CPU microseconds per transaction of the commit's endorsement check (two endorsements of
    a ~600-byte payload, devnet's `EndorsementCheck`), per mode: process time, so the figure
    holds on a loaded machine where wall-clock throughput drifts."""
    from cryptography.hazmat.primitives.asymmetric import ec

    from alliance.network_init import CertificateAuthority, cert_pem
    from alliance.signing import EcdsaSigner
    from network.devnet.endorser import EndorsementPolicy, PeerIdentity
    from network.devnet.txcheck import EndorsementCheck
    from network.protoutil import endorse, serialize_identity

    peers = {}
    for org in ("bank", "telecom", "platform"):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = CertificateAuthority.create(org, f"ca.{org}").issue(
            key.public_key(), org=org, common_name=f"peer0.{org}", ou="peer"
        )
        msp = f"{org}MSP"
        peers[msp] = PeerIdentity(msp, serialize_identity(msp, cert_pem(cert)), EcdsaSigner(key))
    signers = list(peers.values())[:2]

    class Tx:
        def __init__(self, prp: bytes) -> None:
            self.prp_bytes = prp
            self.endorsements = tuple(endorse(prp, p.serialized, p.signer.sign) for p in signers)

    batch = [Tx(os.urandom(600)) for _ in range(txs)]
    out = {}
    for mode in ("unverified", "default", "verify-all"):
        check = EndorsementCheck(peers, EndorsementPolicy.of(peers))
        check.verify = mode != "unverified"
        check.trust_issued = mode != "verify-all"
        for tx in batch:
            check.remember(tx.prp_bytes, tx.endorsements)
        t0 = time.process_time()
        assert all(check.satisfied(tx) for tx in batch)  # type: ignore[arg-type]
        out[mode] = 1e6 * (time.process_time() - t0) / txs
    return out


def _init_charter(net_dir: Path, endpoint: Endpoint) -> None:
    """The founding charter in effect: submitted by endpoint's org, accepted by every founder
    (each org's admin, through the same gateway)."""
    from alliance.founding import found_charter, load_signed_charter
    from alliance.wallet import load_user
    from network.gateway import connect

    def submit(org: str, function: str, argument: str) -> bytes:
        identity, signer = load_user(net_dir, org, "admin", PASSPHRASE)
        with connect(
            endpoint.address, identity=identity, signer=signer, tls_root_certs=endpoint.tls_roots
        ) as gw:
            contract = gw.get_network("alliance").get_contract("alliance")
            return contract.submit_transaction(function, argument)

    found_charter(load_signed_charter(net_dir), submit, endpoint.org)


def _new_net(tmp: str, auditors: list[str]) -> Path:
    from alliance.network_init import init_network

    net_dir = Path(tmp) / "net"
    init_network(net_dir, members=MEMBERS, auditors=auditors, passphrase=PASSPHRASE)
    return net_dir


def _print_header() -> None:
    print(
        f"\n{'engine / workload':<52}{'clients=in-flight':>18}{'tx/s':>9}"
        f"{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}",
        flush=True,
    )


def _print_row(label: str, r: dict) -> None:
    print(
        f"{label:<52}{r['clients']:>18}{r['tps']:>9.0f}{r['p50']:>9.1f}{r['p99']:>9.1f}"
        f"{r['errors']:>8}",
        flush=True,
    )
    for s in r["error_samples"]:
        print(f"    error: {s[:200]}", flush=True)


def _print_cpu(r: dict) -> None:
    """CPU seconds per process in the window, as % of one core and ms per committed tx."""
    cpu = r.get("cpu") or {}
    if not cpu:
        return
    total = sum(cpu.values())
    per_tx = 1000.0 / r["committed"] if r["committed"] else float("nan")
    parts = [
        f"{name} {100 * sec / r['seconds']:.0f}% ({sec * per_tx:.1f} ms/tx)"
        for name, sec in sorted(cpu.items(), key=lambda kv: -kv[1])
    ]
    print(
        f"    cpu in window: total {100 * total / r['seconds']:.0f}% of one core, "
        f"{total * per_tx:.1f} ms/tx: " + ", ".join(parts),
        flush=True,
    )


def devnet_series(args: argparse.Namespace, clients: list[int], rows: list) -> None:
    from alliance.wallet import devnet_tls
    from network.devnet.launcher import start_devnet, stop_devnet
    from network.devnet.server import BENCH_ENDORSEMENTS_ENV

    def series(
        label: str,
        batch_size: int,
        router: str,
        workload: str,
        counts: list[int],
        user: str,
        env: dict[str, str] | None = None,
    ) -> None:
        for code in [""] + ([args.baseline_code] if args.baseline_code else []):
            code_series(
                label + (f" [{code}]" if code else ""),
                batch_size,
                router,
                workload,
                counts,
                user,
                code,
                env,
            )

    def code_series(
        label: str,
        batch_size: int,
        router: str,
        workload: str,
        counts: list[int],
        user: str,
        code: str,
        env: dict[str, str] | None = None,
    ) -> None:
        with tempfile.TemporaryDirectory(prefix="alliance-bench-") as tmp:
            net_dir = _new_net(tmp, args.auditors)
            proc = start_devnet(
                net_dir,
                batch_size=batch_size,
                batch_timeout_ms=args.batch_timeout_ms,
                router=router,
                env={"PYTHONPATH": code or str(ROOT), **(env or {})},
            )
            try:
                roots = devnet_tls(net_dir).root_certs
                endpoint = Endpoint("bank", user, proc.address, roots)
                if workload == "contract":
                    _init_charter(net_dir, Endpoint("bank", "admin", proc.address, roots))
                for n in counts:
                    result = run_load(
                        net_dir,
                        [endpoint],
                        n,
                        args.procs,
                        args.seconds,
                        workload,
                        {"devnet": proc.pid},
                    )
                    rows.append((label, result))
                    _print_row(label, result)
                    _print_cpu(result)
            finally:
                stop_devnet(net_dir)

    series(
        f"devnet counter batch {args.batch_size}/{args.batch_timeout_ms}ms",
        args.batch_size,
        "network.devnet.counter:router",
        "counter",
        clients,
        "client",
    )
    if args.contract:
        series(
            f"devnet RegisterDataset batch {args.batch_size}",
            args.batch_size,
            "",
            "contract",
            [c for c in clients if c >= 32] or clients,
            "admin",
        )
    if not args.no_endorsement_baseline:
        # The raw path with the commit's endorsement checks as before full verification (every
        # endorsement naming a known peer trusted), as now (every signature verified except the
        # ones devnet itself just made over the identical bytes), and with every signature
        # ECDSA-verified. Interleaved over --rounds rounds, medians printed: on a shared machine
        # the load drifts more between minutes than the difference being measured.
        in_flight = [c for c in clients if c == 128] or clients[-1:]
        modes = (
            ("unverified", "endorsements trusted (before)"),
            ("", "verified, own signatures by bytes"),
            ("verify-all", "every endorsement ECDSA-verified"),
        )
        start = len(rows)
        for round_number in range(1, args.rounds + 1):
            for mode, what in modes:
                series(
                    f"counter: {what} #{round_number}",
                    args.batch_size,
                    "network.devnet.counter:router",
                    "counter",
                    in_flight,
                    "client",
                    {BENCH_ENDORSEMENTS_ENV: mode} if mode else None,
                )
        print(f"\nendorsement checks at commit, median of {args.rounds} interleaved rounds:")
        for _, what in modes:
            runs = [r for label, r in rows[start:] if label.startswith(f"counter: {what} #")]
            tps = sorted(r["tps"] for r in runs)
            median = tps[len(tps) // 2]
            print(
                f"  {what:<48}{runs[0]['clients']:>6} in flight {median:>7.0f} tx/s "
                f"(rounds: {', '.join(f'{t:.0f}' for t in tps)})",
                flush=True,
            )
    if not args.no_baseline:
        series(
            "devnet baseline: counter batch size 1",
            1,
            "network.devnet.counter:router",
            "counter",
            [c for c in clients if c in (1, 128)] or clients[:1],
            "client",
        )


def fabric_series(args: argparse.Namespace, clients: list[int], rows: list) -> None:
    from network.connection import gateway_endpoint, record_engine
    from network.fabric import config
    from network.fabric.launcher import start_fabric, stop_fabric
    from network.fabric.layout import FabricLayout
    from network.fabric.processes import recorded

    if args.fabric_batch_timeout:
        config.BATCH_TIMEOUT = args.fabric_batch_timeout  # what-if; the default is config's
    with tempfile.TemporaryDirectory(prefix="alliance-bench-fabric-") as tmp:
        net_dir = _new_net(tmp, args.auditors)
        record_engine(net_dir, "fabric")
        network = start_fabric(net_dir)
        try:
            print(
                f"\nFabric up in {network.started_in:.1f} s: orderer {network.orderer}, peers "
                + ", ".join(f"{o} {p.address}" for o, p in network.peers.items())
                + f"; BatchTimeout {config.BATCH_TIMEOUT}; endorsement: a majority of the "
                f"{len(MEMBERS)} members ({len(MEMBERS) // 2 + 1} per transaction)",
                flush=True,
            )
            endpoints = []
            for org in MEMBERS:
                address, roots = gateway_endpoint(net_dir, org)
                endpoints.append(Endpoint(org, "admin", address, roots))
            _init_charter(net_dir, endpoints[0])
            if args.fabric_gateways == "one":
                bank = endpoints[0]
                endpoints = [
                    Endpoint(org, "admin", bank.address, bank.tls_roots) for org in MEMBERS
                ]
            gateways = "bank's gateway" if args.fabric_gateways == "one" else "3 gateways"
            label = f"fabric RegisterDataset {len(network.peers)} orgs, {gateways}"
            watch = {name: p.pid for name, p in recorded(FabricLayout(net_dir.resolve())).items()}
            for n in clients:
                result = run_load(
                    net_dir,
                    endpoints,
                    n,
                    args.procs,
                    args.seconds,
                    "contract",
                    watch,
                    network.channel,
                    network.chaincode,
                )
                rows.append((label, result))
                _print_row(label, result)
                _print_cpu(result)
        finally:
            stop_fabric(net_dir)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--engine", choices=("devnet", "fabric", "both"), default="devnet")
    parser.add_argument("--clients", default="1,32,128,256", help="devnet in-flight counts")
    parser.add_argument("--fabric-clients", default="32,128,256", help="Fabric in-flight counts")
    parser.add_argument(
        "--fabric-gateways",
        choices=("spread", "one"),
        default="spread",
        help="clients of all 3 orgs on their own peers' gateways, or all through the bank's",
    )
    parser.add_argument(
        "--fabric-batch-timeout",
        default="",
        help="override the orderer's BatchTimeout (e.g. 100ms); default: network/fabric/config.py",
    )
    parser.add_argument(
        "--auditors",
        default="",
        help="auditor orgs to add (e.g. regulator); on Fabric each gets a peer that validates "
        "every block but does not endorse",
    )
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--procs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--batch-timeout-ms", type=int, default=250)
    parser.add_argument("--contract", action="store_true", help="also run the governance contract")
    parser.add_argument("--no-baseline", action="store_true", help="skip the batch-size-1 baseline")
    parser.add_argument(
        "--no-endorsement-baseline",
        action="store_true",
        help="skip the endorsement-verification before/after series",
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds of that series")
    parser.add_argument(
        "--rss-datasets", type=int, default=0, help="devnet RSS after N datasets (0: skip)"
    )
    parser.add_argument("--rss-clients", type=int, default=128)
    parser.add_argument(
        "--rss-only", action="store_true", help="only the memory series, no throughput series"
    )
    parser.add_argument(
        "--baseline-code",
        default="",
        help="also run every devnet series with devnet's code from this directory",
    )
    args = parser.parse_args()
    args.auditors = [a for a in args.auditors.split(",") if a]

    os.environ["ALLIANCE_PASSPHRASE"] = PASSPHRASE.decode()
    rows: list[tuple[str, dict]] = []
    if args.engine in ("fabric", "both") and not os.environ.get("FABRIC_BIN_DIR"):
        print(
            "--engine fabric needs FABRIC_BIN_DIR (Fabric 3 peer, orderer, osnadmin, configtxgen, "
            "configtxlator)",
            file=sys.stderr,
        )
        return 2
    print(
        f"ECDSA P-256 verify, one core: {verify_rate():,.0f}/s "
        f"(devnet verifies 3 per transaction, 5 when it also verifies the 2 endorsements it "
        f"signed itself, so the pure-verify ceiling is a third to a fifth of it); "
        f"load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    cost = endorsement_check_cost()
    print(
        "commit's endorsement check, CPU per transaction (2 endorsements): "
        + ", ".join(f"{mode} {us:,.0f} us" for mode, us in cost.items())
        + " (default: every signature verified except devnet's own on identical bytes)",
        flush=True,
    )
    if args.rss_datasets:
        for code in [""] + ([args.baseline_code] if args.baseline_code else []):
            rss_series(args, code)
        if args.rss_only:
            return 0
    _print_header()
    if args.engine in ("devnet", "both"):
        devnet_series(args, [int(c) for c in args.clients.split(",")], rows)
    if args.engine in ("fabric", "both"):
        fabric_series(args, [int(c) for c in args.fabric_clients.split(",")], rows)
    if args.engine == "both":
        print("\nside by side (same run):")
        _print_header()
        for label, result in rows:
            _print_row(label, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
