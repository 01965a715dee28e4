"""`python -m alliance.verify BUNDLE [--file F --output NAME [--run N]] [--json]`.

Exits 0 when the bundle verifies, 1 naming each check that does not, 2 when it cannot be read."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from alliance.verify.bundle import BundleError, load, verify


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m alliance.verify",
        description="Verify an Alliance audit bundle (`alliance audit export --job J`) offline.",
    )
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--file", type=Path, help="a result file to check against the job")
    parser.add_argument("--output", default="", help="the job's output name the file is")
    parser.add_argument("--run", type=int, default=0, help="run number (default: the latest)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.file is not None and not args.output:
        parser.error("--file needs --output NAME (the job's output the file should be)")
    try:
        outcome = verify(load(args.bundle), file=args.file, output=args.output, run=args.run)
    except BundleError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (KeyError, TypeError, ValueError) as exc:
        print(f"error: {args.bundle} is damaged: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({
            "ok": outcome.ok, "job_id": outcome.job_id, "height": outcome.height,
            "transactions": outcome.transactions,
            "failures": [{"check": f.check, "detail": f.detail} for f in outcome.failures],
        }, indent=2))
        return 0 if outcome.ok else 1
    for tx in outcome.transactions:
        when = datetime.fromtimestamp(tx["timestamp"], UTC).strftime("%Y-%m-%d %H:%M:%S")
        print(f"block {tx['block']:>5} {when} {tx['function']:<18} by {tx['signer']} "
              f"endorsed by {', '.join(tx['endorsers'])}")
    if outcome.ok:
        extra = f"; {args.file} matches {args.output}" if args.file else ""
        print(f"bundle of {outcome.job_id} VERIFIED: {len(outcome.transactions)} transactions "
              f"in a chain of {outcome.height} blocks{extra}")
        return 0
    print(f"bundle of {outcome.job_id} does NOT verify:")
    for failure in outcome.failures:
        print(f"  {failure}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
