"""`alliance audit trail|verify|chain`: what an auditor asks of the ledger."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from alliance.canonical import sha256_digest
from alliance.cli import output
from alliance.cli.parsing import UsageError
from alliance.cli.session import acting_org, add_dir_option, net_dir


def register(groups: Any) -> None:
    parser = groups.add_parser("audit", help="trails and integrity checks for auditors")
    commands = parser.add_subparsers(dest="command", metavar="ACTION", required=True)

    p = commands.add_parser("trail", help="every transaction of a job: signer, block, outcome")
    add_dir_option(p)
    p.add_argument("job_id")
    p.set_defaults(handler=trail)

    p = commands.add_parser("verify", help="check a result file against the digest on the ledger")
    add_dir_option(p)
    p.add_argument("job_id")
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
    from network.audit import job_trail
    from network.connection import connect_member

    with connect_member(net_dir(args), acting_org(args), args.user) as conn:
        rows = [e.to_dict() for e in job_trail(conn.network, conn.profile.chaincode, args.job_id)]
    output.emit_listing(
        args.json,
        rows,
        f"Trail of {args.job_id}",
        ("block", "tx", "action", "state", "signed by", "endorsed by", "validation"),
        lambda r: (
            r["block"],
            r["tx_id"][:16] + "…",
            r["action"],
            r["state"],
            f"{r['signer']} {r['signer_msp_id']}",
            ",".join(r["endorsers"]),
            r["validation"],
        ),
    )
    return 0


def verify(args: argparse.Namespace) -> int:
    from alliance.canonical import loads
    from network.connection import connect_member

    if not args.file.is_file():
        raise UsageError(f"no file {args.file}")
    with connect_member(net_dir(args), acting_org(args), args.user) as conn:
        job = loads(conn.contract.evaluate_transaction("GetJob", args.job_id))
    run = args.run or job["current_run"]
    result = job["results"].get(str(run))
    if result is None:
        raise UsageError(f"{args.job_id} has no recorded result for run {run}")
    recorded = result["output_digests"].get(args.output)
    if recorded is None:
        raise UsageError(
            f"run {run} of {args.job_id} records no output {args.output!r}; "
            f"it has: {', '.join(sorted(result['output_digests'])) or 'none'}"
        )
    actual = sha256_digest(args.file.read_bytes())
    matches = actual == recorded
    if args.json:
        output.emit_json(
            {
                "job_id": args.job_id,
                "run": run,
                "output": args.output,
                "recorded": recorded,
                "actual": actual,
                "matches": matches,
            }
        )
    else:
        verdict = "MATCHES" if matches else "DOES NOT MATCH"
        output.emit_message(
            f"{args.file} {verdict} the digest recorded for {args.output} "
            f"of {args.job_id} run {run} ({recorded})"
        )
    return 0 if matches else 1


def chain(args: argparse.Namespace) -> int:
    from network.connection import connect_member, current_engine
    from network.errors import LedgerIntegrityError

    target = net_dir(args)
    try:
        if current_engine(target) == "devnet":
            from network.devnet import check_ledger

            fields = {"engine": "devnet", **check_ledger(target).to_dict()}
        else:
            from network.audit import verify_chain

            with connect_member(target, acting_org(args), args.user) as conn:
                fields = {"engine": "fabric", **verify_chain(conn.network).__dict__}
    except LedgerIntegrityError as exc:
        if args.json:
            output.emit_json({"verified": False, "problem": str(exc)})
        else:
            output.emit_error(f"the ledger does NOT verify: {exc}")
        return 1
    if args.json:
        output.emit_json({"verified": True, **fields})
    else:
        output.emit_fields("Ledger verified", fields)
    return 0
