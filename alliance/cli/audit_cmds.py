"""`alliance audit trail|verify|chain`: what an auditor asks of the ledger; the use cases live in
`alliance.app.audit`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from alliance.app import audit
from alliance.app.clock import iso, when
from alliance.cli import output
from alliance.cli.session import add_dir_option, net_dir, session


def register(groups: Any) -> None:
    parser = groups.add_parser("audit", help="trails and integrity checks for auditors")
    commands = parser.add_subparsers(dest="command", metavar="ACTION", required=True)

    p = commands.add_parser("trail", help="every transaction of a job: signer, block, outcome")
    add_dir_option(p)
    p.add_argument("job_id", help="the job's id, or a unique start of it")
    p.set_defaults(handler=trail)

    p = commands.add_parser(
        "verify",
        help="check a result file against the digest on the ledger",
        description="Exits 0 when the file matches the recorded digest, 1 when it does not.",
    )
    add_dir_option(p)
    p.add_argument("job_id", help="the job's id, or a unique start of it")
    p.add_argument("--file", type=Path, required=True)
    p.add_argument("--output", required=True, help="the job's output name, e.g. result")
    p.add_argument("--run", type=int, default=0, help="run number (default: the latest)")
    p.set_defaults(handler=verify)

    p = commands.add_parser(
        "chain",
        help="check the ledger: hash chain, data hashes, state commitments vs the world state",
    )
    add_dir_option(p)
    p.set_defaults(handler=chain)


def trail(args: argparse.Namespace) -> int:
    with session(args) as s:
        rows = audit.job_trail(s, args.job_id)
    output.emit_listing(
        args.json,
        [{**r, "timestamp_iso": iso(r["timestamp"])} for r in rows],
        f"Trail of {args.job_id}",
        ("block", "tx", "time", "action", "state", "signed by", "endorsed by", "validation"),
        lambda r: (
            r["block"],
            r["tx_id"],
            when(r["timestamp"]),
            r["action"],
            r["state"],
            f"{r['signer']} {r['signer_msp_id']}",
            ",".join(r["endorsers"]),
            r["validation"],
        ),
        keep=("tx",),
    )
    return 0


def verify(args: argparse.Namespace) -> int:
    with session(args) as s:
        result = audit.verify_output(s, args.job_id, args.output, args.file, args.run)
    if args.json:
        output.emit_json({**result.__dict__, "matches": result.matches})
    else:
        verdict = "MATCHES" if result.matches else "DOES NOT MATCH"
        output.emit_message(
            f"{args.file} {verdict} the digest recorded for {result.output} "
            f"of {result.job_id} run {result.run} ({result.recorded})"
        )
    return 0 if result.matches else 1


def chain(args: argparse.Namespace) -> int:
    report = audit.check_chain(net_dir(args), lambda: session(args))
    if args.json:
        output.emit_json(report)
    else:
        output.emit_fields("Ledger verified", report)
    return 0
