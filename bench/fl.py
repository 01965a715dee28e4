"""Benchmark: joint credit modelling on 1e6 aligned rows x 30 features, parties as processes.

bank holds the label and 10 features, telecom 20 features, platform is the dealer. Each party is
a separate process with its own MpcServer; gRPC with mutual TLS on loopback, certificates of a
throw-away `alliance network init` (node.mpc.grpc_party, as bench/stats.py). Two jobs:
1. `binning`: equal-frequency bins of all 30 features, WOE/IV (bank's 10 in the clear at bank,
   telecom's 20 through the dealer-assisted product); checked against the counts in the clear.
2. `lr_train`: secure logistic regression, 10 epochs (patience = epochs, so all of them run),
   then the split model's AUC on all rows against scikit-learn's LogisticRegression fitted on the
   same data in the same run (its time printed beside ours).

3. `gbdt_train` (`--only gbdt`): vertical gradient-boosted trees between bank (label + 10
   features, active) and telecom (20 features, passive), no dealer: each party bins its own
   features by quantile (`--max-bin`), secure histograms by the GGM selection; the setup (binning,
   base OTs, OT extension) and the trees timed apart. XGBoost (`tree_method=hist`, same max_bin,
   depth, trees, eta, lambda, `OMP_WAIT_POLICY=PASSIVE`, both cores) on the same data in the same
   run, its time and the ratio printed beside ours, and both models' AUC on all rows.

    .venv/bin/python bench/fl.py [--rows 1000000] [--batch-size 1024] [--bins 10]
    nice -n 10 .venv/bin/python bench/fl.py --only gbdt --rows 284807 --trees 100

Targets on the 2-core machine: binning + WOE/IV <= 60 s; LR 10 epochs <= 60 s; AUC within 0.005
of scikit-learn; <= 3 GB peak RSS per party. GBDT: 284,807 rows, 100 trees, depth 5, 16 bins:
<= 120 s of trees + <= 60 s of setup; 1e6 rows: <= 15 min end to end, <= 4 GB per party.
"""

from __future__ import annotations

import argparse
import functools
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from alliance.network_init import init_network
from node.mpc.grpc_party import PartySpec, run_parties
from node.mpc.protocol import InputRef, JobContext, LocalInputs

PARTIES = ("bank", "platform", "telecom")
DEALER = "platform"
LABEL = "bank/loans:default"
BANK_FEATURES, TELECOM_FEATURES = 10, 20
PASSPHRASE = b"bench-fl-throwaway"


def dataset(rows: int) -> tuple[np.ndarray, np.ndarray]:
    """All 30 standard-normal features (bank's first) and a logistic label (~12% events)."""
    rng = np.random.default_rng(20261201)
    x = rng.standard_normal((rows, BANK_FEATURES + TELECOM_FEATURES), dtype=np.float64)
    beta = rng.normal(0.0, 0.35, x.shape[1])
    z = -2.4 + x @ beta
    y = (rng.random(rows) < 1.0 / (1.0 + np.exp(-z))).astype(np.int64)
    return x, y


def bank_ref(i: int) -> str:
    return f"bank/loans:b{i}"


def telecom_ref(i: int) -> str:
    return f"telecom/subs:t{i}"


def make_inputs(org: str, rows: int) -> LocalInputs:
    if org == DEALER:
        return {}
    x, y = dataset(rows)
    if org == "bank":
        cols = {bank_ref(i): np.ascontiguousarray(x[:, i]) for i in range(BANK_FEATURES)}
        return {LABEL: y, **cols}
    return {telecom_ref(i): np.ascontiguousarray(x[:, BANK_FEATURES + i])
            for i in range(TELECOM_FEATURES)}


def job(protocol: str, params: dict[str, str], outputs: dict[str, tuple[str, ...]]) -> JobContext:
    refs = [LABEL, *(bank_ref(i) for i in range(BANK_FEATURES)),
            *(telecom_ref(i) for i in range(TELECOM_FEATURES))]
    return JobContext(f"bench-{protocol}", protocol, params,
                      tuple(InputRef.parse(r) for r in refs), outputs, PARTIES, DEALER)


def run(net_dir: Path, tmp: str, the_job: JobContext, rows: int) -> tuple[dict, float]:
    specs = [PartySpec(str(net_dir), org, PASSPHRASE, the_job,
                       functools.partial(make_inputs, org, rows), protocol=the_job.protocol,
                       step_timeout=600.0, connect_timeout=60.0, output_dir=tmp)
             for org in PARTIES]
    started = time.perf_counter()
    outcomes = run_parties(specs, timeout=1800.0)
    total = time.perf_counter() - started
    failed = {org: o for org, o in outcomes.items() if not o.get("ok")}
    if failed:
        raise SystemExit(f"{the_job.protocol} failed: {failed}")
    return outcomes, total


def table(title: str, outcomes: dict, total: float) -> None:
    print(f"\n{title}")
    print(f"{'':24}{'wall s':>10}{'sent MB':>12}{'peak RSS MB':>14}")
    for org in PARTIES:
        o = outcomes[org]
        print(f"{'  ' + org:24}{o['seconds']:>10.2f}{o['bytes_sent'] / 1e6:>12.1f}"
              f"{o['peak_rss_bytes'] / 1e6:>14.0f}")
    wall = outcomes["bank"]["wall_seconds"]
    print(f"{'  protocol (all)':24}{wall:>10.2f}"
          f"{sum(o['bytes_sent'] for o in outcomes.values()) / 1e6:>12.1f}")
    print(f"{'  incl. process start':24}{total:>10.2f}")


GBDT_PARTIES = ("bank", "telecom")


def gbdt(net_dir: Path, tmp: str, rows: int, args: argparse.Namespace,
         x: np.ndarray, y: np.ndarray) -> None:
    """Section 3: secure boosting beside XGBoost on the same data."""
    from node.mpc.modelling.gbdt import trees as T
    from node.mpc.modelling.gbdt.model import ActivePart, PassivePart, joined, route

    scale = args.scale_bits or min(20, (((1 << 31) - 1) // rows).bit_length() - 1)
    params = {"label": LABEL, "n_trees": str(args.trees), "max_depth": str(args.depth),
              "max_bin": str(args.max_bin), "learning_rate": "0.3", "reg_lambda": "1",
              "scale_bits": str(scale)}
    refs = [LABEL, *(bank_ref(i) for i in range(BANK_FEATURES)),
            *(telecom_ref(i) for i in range(TELECOM_FEATURES))]
    the_job = JobContext("bench-gbdt", "gbdt_train", params,
                         tuple(InputRef.parse(r) for r in refs),
                         {"model.bank": ("bank",), "model.telecom": ("telecom",)},
                         GBDT_PARTIES, None)
    specs = [PartySpec(str(net_dir), org, PASSPHRASE, the_job,
                       functools.partial(make_inputs, org, rows), protocol="gbdt_train",
                       step_timeout=1800.0, connect_timeout=60.0, output_dir=tmp)
             for org in GBDT_PARTIES]
    started = time.perf_counter()
    outcomes = run_parties(specs, timeout=7200.0)
    total = time.perf_counter() - started
    failed = {org: o for org, o in outcomes.items() if not o.get("ok")}
    if failed:
        raise SystemExit(f"gbdt_train failed: {failed}")
    summary = outcomes["bank"]["summary"]
    setup, trees = summary["setup_ms"] / 1000, summary["trees_ms"] / 1000
    print(f"\nsecure GBDT, {args.trees} trees, depth {args.depth}, {args.max_bin} bins, "
          f"gradients at 2^-{scale} (packed g+h: {T.packs('logistic', rows, scale)})"
          f"\n  "
          f"(bank active: label + {BANK_FEATURES}, telecom passive: {TELECOM_FEATURES})")
    print(f"{'':24}{'wall s':>10}{'sent MB':>12}{'peak RSS MB':>14}")
    for org in GBDT_PARTIES:
        o = outcomes[org]
        print(f"{'  ' + org:24}{o['seconds']:>10.2f}{o['bytes_sent'] / 1e6:>12.1f}"
              f"{o['peak_rss_bytes'] / 1e6:>14.0f}")
    cpu = {org: outcomes[org]["summary"] for org in GBDT_PARTIES}
    print(f"{'  setup (bins, OTs)':24}{setup:>10.2f}   CPU s bank / telecom: "
          f"{cpu['bank']['setup_cpu_ms'] / 1000:.1f} / {cpu['telecom']['setup_cpu_ms'] / 1000:.1f}")
    print(f"{'  trees':24}{trees:>10.2f}   CPU s bank / telecom: "
          f"{cpu['bank']['trees_cpu_ms'] / 1000:.1f} / {cpu['telecom']['trees_cpu_ms'] / 1000:.1f}"
          f"; {trees / max(summary['trees'], 1):.2f} s per tree")
    print(f"{'  incl. process start':24}{total:>10.2f}")
    active = ActivePart.from_bytes(Path(outcomes["bank"]["outputs"]["model.bank"]).read_bytes())
    passive = PassivePart.from_bytes(
        Path(outcomes["telecom"]["outputs"]["model.telecom"]).read_bytes())
    bins = {part.owner: np.stack([f.bin_of(x[:, int(f.name.split(":")[1][1:])
                                              + (0 if part.owner == "bank" else BANK_FEATURES)])
                                  for f in part.features])
            for part in (active, passive)}
    tree_list = joined(active, [passive])

    def decide(t: int, node: int, members: np.ndarray) -> np.ndarray:
        s = tree_list[t].splits[node]
        return bins[s.owner][s.feature, members] <= s.bin

    ours = active.scores(route(tree_list, rows, decide))

    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    import xgboost
    from sklearn.metrics import roc_auc_score

    started, cpu_started = time.perf_counter(), time.process_time()
    model = xgboost.XGBClassifier(n_estimators=args.trees, max_depth=args.depth,
                                  learning_rate=0.3, reg_lambda=1.0, min_child_weight=1.0,
                                  tree_method="hist", max_bin=args.max_bin, n_jobs=2)
    model.fit(x, y)
    xgb_seconds = time.perf_counter() - started
    xgb_cpu = time.process_time() - cpu_started
    theirs = model.predict_proba(x)[:, 1]
    print(f"  XGBoost hist (2 threads, in the clear, same run): {xgb_seconds:.2f} s "
          f"(CPU {xgb_cpu:.2f} s); "
          f"ours/XGBoost: trees {trees / xgb_seconds:.0f}x, with setup "
          f"{(trees + setup) / xgb_seconds:.0f}x")
    print(f"  AUC (all rows) secure {roc_auc_score(y, ours):.5f}, XGBoost "
          f"{roc_auc_score(y, theirs):.5f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--bins", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--learning-rate", type=float, default=0.5)
    parser.add_argument("--only", choices=("binning", "lr", "gbdt"), default=None)
    parser.add_argument("--trees", type=int, default=100)
    parser.add_argument("--depth", type=int, default=5)
    parser.add_argument("--max-bin", type=int, default=16)
    parser.add_argument("--scale-bits", type=int, default=0,
                        help="gbdt: fixed-point bits (0: the most that packs g and h, <= 20)")
    args = parser.parse_args()

    from node.mpc.modelling import binning
    from node.mpc.modelling.logistic import ModelPart
    from node.mpc.modelling.tables import decode_tables

    rows, cells = args.rows, args.rows * (BANK_FEATURES + TELECOM_FEATURES)
    print(f"{rows:,} aligned rows x {BANK_FEATURES + TELECOM_FEATURES} features "
          f"(bank: label + {BANK_FEATURES}, telecom: {TELECOM_FEATURES}, dealer: platform); "
          "gRPC + mutual TLS on loopback, one process per party")
    x, y = dataset(rows)
    with tempfile.TemporaryDirectory(prefix="bench-fl-") as tmp:
        net_dir = Path(tmp) / "net"
        init_network(net_dir, list(PARTIES), [], PASSPHRASE)

        if args.only == "gbdt":
            gbdt(net_dir, tmp, rows, args, x, y)
            return

        if args.only in (None, "binning"):
            outs = {"bins.bank": ("bank",), "bins.telecom": ("telecom",), "iv": ("bank",)}
            binned, total = run(net_dir, tmp, job(
                "binning", {"label": LABEL, "method": "quantile", "bins": str(args.bins)}, outs),
                rows)
            table(f"binning + WOE/IV, {args.bins} equal-frequency bins", binned, total)
            tables = decode_tables(Path(binned["telecom"]["outputs"]["bins.telecom"]).read_bytes())
            worst = 0
            for i in range(TELECOM_FEATURES):
                t = tables[telecom_ref(i)]
                index = binning.assign(x[:, BANK_FEATURES + i], np.array(t.breaks))
                clear = np.bincount(index, weights=y, minlength=len(t.events)).astype(int)
                worst = max(worst, int(np.abs(clear - np.array(t.events)).max()))
            wall = binned["bank"]["wall_seconds"]
            print(f"  max |secure - clear| per-bin events over telecom's 20 features: {worst}")
            print(f"  rate: {cells / wall:,.0f} cells/s")

        if args.only in (None, "lr"):
            params = {"label": LABEL, "epochs": str(args.epochs),
                      "batch_size": str(args.batch_size),
                      "learning_rate": str(args.learning_rate), "validation_fraction": "0.2",
                      "patience": str(args.epochs)}
            outs = {"model.bank": ("bank",), "model.telecom": ("telecom",)}
            trained, total = run(net_dir, tmp, job("lr_train", params, outs), rows)
            table(f"secure LR, {args.epochs} epochs, batch {args.batch_size}, t1 sigmoid",
                  trained, total)
            parts = [ModelPart.from_bytes(Path(trained[p]["outputs"][f"model.{p}"]).read_bytes())
                     for p in ("bank", "telecom")]
            w = np.r_[parts[0].coefficients, parts[1].coefficients]
            z = x @ w + (parts[0].intercept or 0.0)

            from sklearn.linear_model import LogisticRegression
            from sklearn.metrics import roc_auc_score

            started = time.perf_counter()
            reference = LogisticRegression(max_iter=1000).fit(x, y)
            sk_seconds = time.perf_counter() - started
            ours, theirs = roc_auc_score(y, z), roc_auc_score(y, reference.decision_function(x))
            wall = trained["bank"]["wall_seconds"]
            print(f"  {'scikit-learn LogisticRegression (lbfgs, 1 process, in the clear)':24}: "
                  f"{sk_seconds:.2f} s")
            print(f"  AUC secure {ours:.5f}, scikit-learn {theirs:.5f}, "
                  f"difference {ours - theirs:+.5f}")
            cosine = w @ reference.coef_[0] / np.linalg.norm(w) / np.linalg.norm(reference.coef_[0])
            print(f"  coefficients: cosine to scikit-learn's {cosine:.5f}; epochs run "
                  f"{parts[0].epochs_run}")
            print(f"  rate: {cells * args.epochs / wall:,.0f} cell-epochs/s")


if __name__ == "__main__":
    main()
