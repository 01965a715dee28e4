"""`alliance demo`: a throw-away alliance that shows the whole governed flow, checked step by step.

Exit code 0 when every step happened as shown, 1 when one did not (the failing step says what),
130 on Ctrl-C; in every case the processes the demo started are stopped.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from alliance.cli import output


def register(groups: Any) -> None:
    p = groups.add_parser(
        "demo", help="create a demo alliance, run a governed secure computation, audit it"
    )
    p.add_argument(
        "--dir",
        dest="sub_dir",
        type=Path,
        default=None,
        help="build the alliance there (must not hold one); default: a temporary dir",
    )
    p.add_argument(
        "--keep", action="store_true", help="keep the temporary directory (its path is printed)"
    )
    p.add_argument("--seed", type=int, default=7, help="seed of the synthetic data")
    p.add_argument(
        "--scenario",
        choices=("governance", "credit", "query"),
        default="governance",
        help="governance: statistics, PSI, refusals and the audit trail; credit: joint credit "
        "modelling (PSI alignment, binning/IV, secure LR, AUC/KS, scorecard); query: the "
        "real-time multi-lender query (servers named by vote, books pushed as secret shares, "
        "lookups checked against the clear, refusals, a lookup's consent proven to the "
        "regulator)",
    )
    p.add_argument(
        "--engine",
        choices=("devnet", "fabric"),
        default="devnet",
        help="the ledger: embedded devnet, or Fabric from FABRIC_BIN_DIR",
    )
    p.add_argument(
        "--no-plot", action="store_true",
        help="credit: no ROC, KS and lift charts in the terminal (the PNG files are still written)",
    )
    p.add_argument(
        "--json", dest="sub_json", action="store_true", help="print a machine-readable summary"
    )
    p.set_defaults(handler=run_demo)


def _passphrase() -> bytes:
    """ALLIANCE_PASSPHRASE, or a random one nobody is shown (the keys of a temporary alliance)."""
    from alliance.keystore import PASSPHRASE_ENV

    value = os.environ.get(PASSPHRASE_ENV)
    return value.encode() if value else secrets.token_urlsafe(24).encode()


def next_steps(flow: Any, kept: bool) -> list[str]:
    """What a person can do with the network the demo leaves: its commands when kept and its
    keys open with the ALLIANCE_PASSPHRASE set; why not, when they do not."""
    from alliance.keystore import PASSPHRASE_ENV

    if not kept:
        return []
    if not os.environ.get(PASSPHRASE_ENV):
        return [f"its keys are encrypted with a random passphrase: to use the network after "
                f"the demo, run the demo again with {PASSPHRASE_ENV} set (and a new --dir)"]
    return flow.next_commands()


def interrupter(flow: Any) -> Callable[[int, object], None]:
    """The demo's SIGINT and SIGTERM handler: the flow stops at once (its steps see
    KeyboardInterrupt, then it stops what it started), but not while it is stopping them: the
    teardown runs to its end, and the demo exits 130 after it."""

    def interrupt(signum: int, _frame: object) -> None:
        flow.interrupted = True
        if not flow.stopping:
            raise KeyboardInterrupt

    return interrupt


def run_demo(args: argparse.Namespace) -> int:
    from alliance.cli.demo.flow import DemoFlow
    from alliance.cli.demo.report import Reporter

    warnings.filterwarnings("ignore", message=".*Protobuf gencode version.*")
    as_json = bool(args.json or args.sub_json)
    given = args.sub_dir or args.dir
    temp_root = None if given else Path(tempfile.mkdtemp(prefix="alliance-demo-"))
    net_dir = Path(given) if given else temp_root / "net"  # type: ignore[operator]
    flow_class = DemoFlow
    if args.scenario == "credit":
        from alliance.cli.demo.credit import CreditFlow

        flow_class = CreditFlow
    elif args.scenario == "query":
        from alliance.cli.demo.lending import LendingFlow

        flow_class = LendingFlow
    flow = flow_class(net_dir, _passphrase(), seed=args.seed, engine=args.engine)
    reporter = Reporter(quiet=as_json, plots=not args.no_plot)
    started = time.monotonic()
    ok = False
    previous = {s: signal.signal(s, interrupter(flow)) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        ok = flow.run(reporter.step, reporter.begin)
    finally:
        reporter.close()
        for number, handler in previous.items():
            signal.signal(number, handler)
        seconds = round(time.monotonic() - started, 1)
        if temp_root is not None and not args.keep:
            shutil.rmtree(temp_root, ignore_errors=True)
    summary = {
        **flow.summary,
        "ok": ok,
        "seconds": seconds,
        "kept": bool(given or args.keep),
        "next": next_steps(flow, bool(given or args.keep)) if ok else [],
        "steps": [
            {"key": s.key, "title": s.title, "ok": s.ok, "detail": s.detail} for s in flow.steps
        ],
    }
    if as_json:
        output.emit_json(summary)
    else:
        reporter.finish(flow, ok, seconds, summary["kept"], summary["next"])
    return 0 if ok else 1
