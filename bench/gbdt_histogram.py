"""Benchmark: secure histograms for vertical boosting (node.mpc.modelling.gbdt.selection).

The active party holds (gradient, hessian) per row as 64-bit fixed-point ring elements, the
passive party 20 features x 16 bins. Measured: the one-time setup (base OTs, OT extension, GGM
corrections), then per tree `share_tree` plus `node_sums` for every node of a depth-5 tree grown
with histogram subtraction (the root, then the smaller child of each split; its sibling is the
parent minus it), the partition drawn at random from the passive features' bins. Every secure
histogram is checked against the plaintext one; the plaintext baseline (np.bincount over the same
nodes with the same subtraction, float64 g and h) runs in the same process in the same run.

    nice -n 10 .venv/bin/python bench/gbdt_histogram.py                 # both sizes, in-process
    nice -n 10 .venv/bin/python bench/gbdt_histogram.py --rows 284807 --trees 5 --grpc

Modes: `memory` (both parties in one process, MemoryNetwork; peak RSS is the process's, both
parties together) and `--grpc` (each party its own process, gRPC with mutual TLS on loopback,
certificates of a throw-away `alliance network init`; peak RSS per party).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from node.mpc.memory_transport import MemoryNetwork
from node.mpc.modelling.gbdt.selection import setup_active, setup_passive
from node.mpc.protocol import JobContext, LocalInputs, ProtocolResult
from node.mpc.transport import Transport

FEATURES, BINS, DEPTH, M = 20, 16, 5, 2
ACTIVE, PASSIVE = "bank", "telecom"
PASSPHRASE = b"bench-gbdt-throwaway"
SCALE = 1 << 20


def data(rows: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(bins (rows, 20) uint8, g/h float64 (rows, 2), the same as ring elements (rows, 2))."""
    rng = np.random.default_rng(20261201)
    bins = rng.integers(0, BINS, (rows, FEATURES), dtype=np.uint8)
    p = rng.random(rows)
    y = rng.random(rows) < 0.12
    gh = np.stack([p - y, p * (1 - p)], axis=1)
    ring = np.round(gh * SCALE).astype(np.int64).view(np.uint64)
    return bins, gh, ring


@dataclass
class Split:
    """One split of the plan: node keys (children of k: 2k+1, 2k+2) and the smaller child's rows."""

    parent: int
    small: int
    big: int
    rows: np.ndarray


def tree_plan(bins: np.ndarray, tree: int) -> tuple[np.ndarray, list[Split]]:
    """(root rows, every split of a random depth-5 tree level by level); the partition comes
    from random (feature, bin) cuts, so both parties know it as in the protocol."""
    rng = np.random.default_rng(tree)
    plan: list[Split] = []
    root = np.arange(bins.shape[0], dtype=np.int64)
    level = [(0, root)]
    for _ in range(DEPTH - 1):
        nxt = []
        for key, rows in level:
            f, cut = int(rng.integers(FEATURES)), int(rng.integers(1, BINS))
            left = rows[bins[rows, f] < cut]
            right = rows[bins[rows, f] >= cut]
            lk, rk = 2 * key + 1, 2 * key + 2
            if left.size <= right.size:
                plan.append(Split(key, lk, rk, left))
            else:
                plan.append(Split(key, rk, lk, right))
            nxt += [(lk, left), (rk, right)]
        level = nxt
    return root, plan


def subtracted(hist, root: np.ndarray, plan: list[Split]) -> dict[int, np.ndarray]:
    """Histograms of every node by key: `hist(rows)` for the root and each smaller child, the
    sibling as parent minus it."""
    out = {0: hist(root)}
    for split in plan:
        out[split.small] = hist(split.rows)
        out[split.big] = out[split.parent] - out[split.small]
    return out


def plain_tree(bins: np.ndarray, gh: np.ndarray, root: np.ndarray,
               plan: list[Split]) -> dict[int, np.ndarray]:
    """Plaintext baseline: bincount histograms (float64 g, h), with the same subtraction."""
    offsets = (np.arange(FEATURES, dtype=np.int64) * BINS)[None, :]

    def hist(rows: np.ndarray) -> np.ndarray:
        keys = (bins[rows].astype(np.int64) + offsets).ravel()
        out = np.empty((FEATURES * BINS, 2))
        for k in range(2):
            out[:, k] = np.bincount(keys, weights=np.repeat(gh[rows, k], FEATURES),
                                    minlength=FEATURES * BINS)
        return out.reshape(FEATURES, BINS, 2)

    return subtracted(hist, root, plan)


def plain_check(bins: np.ndarray, ring: np.ndarray, rows: np.ndarray) -> np.ndarray:
    out = np.zeros((FEATURES, BINS, M), dtype=np.uint64)
    for f in range(FEATURES):
        for k in range(M):
            np.add.at(out[f, :, k], bins[rows, f], ring[rows, k])
    return out


@dataclass
class Timings:
    setup: float = 0.0
    share: list[float] = field(default_factory=list)
    sums: list[float] = field(default_factory=list)


async def run_memory(rows: int, trees: int, bins: np.ndarray, ring: np.ndarray,
                     check: bool) -> tuple[Timings, Timings]:
    net = MemoryNetwork([ACTIVE, PASSIVE], step_timeout=600.0)
    ta, tp = Timings(), Timings()
    t0 = time.perf_counter()
    act, pas = await asyncio.gather(
        setup_active(net.transport(ACTIVE), PASSIVE, rows, FEATURES, BINS, "h"),
        setup_passive(net.transport(PASSIVE), ACTIVE, bins, BINS, "h"))
    ta.setup = tp.setup = time.perf_counter() - t0
    for tree in range(trees):
        root, plan = tree_plan(bins, tree)
        t0 = time.perf_counter()
        sa, sp = await asyncio.gather(act.share_tree(tree, ring), pas.share_tree(tree, M))
        ta.share.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        ha, hp = await asyncio.gather(
            asyncio.to_thread(subtracted, sa.node_sums, root, plan),
            asyncio.to_thread(subtracted, sp.node_sums, root, plan))
        ta.sums.append(time.perf_counter() - t0)
        if check and tree == 0:
            for key, rows in [(0, root), *((s.small, s.rows) for s in plan[:2])]:
                if not (ha[key] + hp[key] == plain_check(bins, ring, rows)).all():
                    raise SystemExit("a secure histogram differs from the plaintext one")
    return ta, tp


class BenchProtocol:
    """The same run as one party of a gRPC job (for --grpc): setup, then the trees."""

    name = "gbdt-histogram-bench"

    def __init__(self, rows: int, trees: int) -> None:
        self.rows, self.trees = rows, trees

    async def run(self, job: JobContext, local_inputs: LocalInputs,
                  transport: Transport) -> ProtocolResult:
        bins, _gh, ring = data(self.rows)
        me = transport.party
        t0 = time.perf_counter()
        if me == ACTIVE:
            sel = await setup_active(transport, PASSIVE, self.rows, FEATURES, BINS, "h")
        else:
            sel = await setup_passive(transport, ACTIVE, bins, BINS, "h")
        summary: dict[str, str | int] = {"setup_ms": int(1000 * (time.perf_counter() - t0))}
        share_ms, sums_ms = [], []
        roots = []
        for tree in range(self.trees):
            root, plan = tree_plan(bins, tree)
            t0 = time.perf_counter()
            shares = await (sel.share_tree(tree, ring) if me == ACTIVE
                            else sel.share_tree(tree, M))
            share_ms.append(int(1000 * (time.perf_counter() - t0)))
            t0 = time.perf_counter()
            sums = await asyncio.to_thread(subtracted, shares.node_sums, root, plan)
            sums_ms.append(int(1000 * (time.perf_counter() - t0)))
            if tree == 0:
                summary["root_share"] = ",".join(map(str, sums[0].ravel().tolist()))
            roots.append(str(int(sums[0].sum(dtype=np.uint64))))
        summary.update(share_ms=",".join(map(str, share_ms)), sums_ms=",".join(map(str, sums_ms)))
        # the parent process checks that both parties' root shares add up (mod 2^64)
        summary["root_share_sums"] = ",".join(roots)
        return ProtocolResult(outputs={}, summary=summary)


def run_grpc(rows: int, trees: int, tmp: str) -> dict:
    from alliance.network_init import init_network
    from node.mpc.grpc_party import PartySpec, run_parties

    net_dir = Path(tmp) / "net"
    init_network(net_dir, [ACTIVE, PASSIVE], [], PASSPHRASE)
    job = JobContext("bench-gbdt", "gbdt-histogram-bench", {}, (), {}, (ACTIVE, PASSIVE))
    specs = [PartySpec(str(net_dir), org, PASSPHRASE, job, dict, protocol=BenchProtocol(rows,
                       trees), step_timeout=600.0, connect_timeout=60.0) for org in (ACTIVE,
                                                                                     PASSIVE)]
    return run_parties(specs, timeout=3600.0)


def plain_time(bins: np.ndarray, gh: np.ndarray, trees: int) -> float:
    best = []
    for tree in range(trees):
        root, plan = tree_plan(bins, tree)
        t0 = time.perf_counter()
        plain_tree(bins, gh, root, plan)
        best.append(time.perf_counter() - t0)
    return float(np.median(best))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="*", default=[284807, 1000000])
    parser.add_argument("--trees", type=int, default=3)
    parser.add_argument("--grpc", action="store_true", help="parties as processes over gRPC/TLS")
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()}")
    for rows in args.rows:
        bins, gh, ring = data(rows)
        plain = plain_time(bins, gh, args.trees)
        print(f"\n{rows:,} rows x {FEATURES} passive features x {BINS} bins, m = {M}, depth "
              f"{DEPTH}, {args.trees} trees")
        if args.grpc:
            with tempfile.TemporaryDirectory() as tmp:
                t0 = time.perf_counter()
                outcomes = run_grpc(rows, args.trees, tmp)
                total = time.perf_counter() - t0
            for org, o in outcomes.items():
                if not o.get("ok"):
                    raise SystemExit(f"{org} failed: {o}")
            s = {org: o["summary"] for org, o in outcomes.items()}
            want = int(ring.sum(axis=0, dtype=np.uint64).sum(dtype=np.uint64)) * FEATURES % 2**64
            pairs = zip(s[ACTIVE]["root_share_sums"].split(","),
                        s[PASSIVE]["root_share_sums"].split(","), strict=True)
            if any((int(a) + int(p)) % 2**64 != want for a, p in pairs):
                raise SystemExit("the root histograms' shares do not add up to the plaintext sum")
            root0 = [(int(a) + int(p)) % 2**64 for a, p in zip(
                s[ACTIVE]["root_share"].split(","), s[PASSIVE]["root_share"].split(","),
                strict=True)]
            if root0 != plain_check(bins, ring, np.arange(rows)).ravel().tolist():
                raise SystemExit("tree 0's root histogram differs from the plaintext one")
            print("  tree 0's root histogram equals the plaintext one; every tree's root shares "
                  "add up to the plaintext total")
            print(f"  {'party':10}{'setup s':>9}{'share s/tree':>14}{'sums s/tree':>13}"
                  f"{'sent MB':>10}{'peak RSS MB':>13}")
            for org, o in outcomes.items():
                sh = np.median([int(x) for x in s[org]["share_ms"].split(",")]) / 1000
                su = np.median([int(x) for x in s[org]["sums_ms"].split(",")]) / 1000
                print(f"  {org:10}{int(s[org]['setup_ms']) / 1000:>9.2f}{sh:>14.2f}{su:>13.2f}"
                      f"{o['bytes_sent'] / 1e6:>10.0f}{o['peak_rss_bytes'] / 1e6:>13.0f}")
            print(f"  end to end incl. process start: {total:.1f} s")
        else:
            ta, _tp = asyncio.run(run_memory(rows, args.trees, bins, ring, check=True))
            share, sums = float(np.median(ta.share)), float(np.median(ta.sums))
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3
            print("  histograms checked equal to the plaintext ones (root + first splits, tree 0)")
            print(f"  {'':34}{'seconds':>10}")
            print(f"  {'setup (once)':34}{ta.setup:>10.2f}")
            print(f"  {'share_tree (per tree)':34}{share:>10.2f}")
            print(f"  {'node_sums, 16 nodes (per tree)':34}{sums:>10.2f}")
            print(f"  {'secure per tree':34}{share + sums:>10.2f}")
            print(f"  {'plaintext bincount per tree':34}{plain:>10.3f}   "
                  f"ratio {(share + sums) / plain:.0f}x")
            print(f"  peak RSS, both parties in one process: {rss:.0f} MB")
            print(f"  masked values on the wire per tree: {rows * FEATURES * M * 8 / 1e6:.0f} MB")
    print(f"\nload average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
