"""`alliance audit trail|verify|chain|verify-chain|export|lineage|report`: what an auditor asks
of the ledger; the use cases live in `alliance.app.audit`."""

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

    p = commands.add_parser(
        "verify-chain",
        help="prove every block: links, signatures, policy, replayed contract, world state",
        description=(
            "Reads every block through the ledger's Deliver service and checks: block numbers, "
            "hash links and data hashes; orderer block signatures (where the ledger signs "
            "blocks); every creator and endorsement signature against the certificate valid at "
            "that block (rotations and revocations respected); the endorsement policy; that "
            "each validation code is what the checks give; that the governance contract, "
            "replayed over the blocks, writes what each block records; and that the ledger's "
            "answers agree with the replayed world state. Exits 0 when everything holds, 1 "
            "naming each block, transaction and check that does not."
        ),
    )
    add_dir_option(p)
    p.set_defaults(handler=verify_chain)

    p = commands.add_parser(
        "export",
        help="write a job's self-contained audit bundle, verifiable offline",
        description=(
            "Writes the job's blocks (and those of the charter, membership, revocations and its "
            "input datasets), every block header, the members' CA roots, the charter and the "
            "job record to one JSON file. Check it anywhere, without the network, with "
            "`python -m alliance.verify BUNDLE [--file RESULT --output NAME]`."
        ),
    )
    add_dir_option(p)
    p.add_argument("--job", required=True, help="the job's id, or a unique start of it")
    p.add_argument("--out", type=Path, help="bundle file (default: JOB.bundle.json)")
    p.set_defaults(handler=export)

    p = commands.add_parser(
        "lineage",
        help="dataset versions, jobs, receipts and outputs as one graph",
        description=(
            "The lineage graph around a dataset (every version), a job, or the job output a "
            "file is (found by its digest); the whole graph without a question."
        ),
    )
    add_dir_option(p)
    _lineage_question(p)
    p.set_defaults(handler=lineage)

    p = commands.add_parser(
        "report",
        help="a regulator's lineage report: JSON, Markdown and HTML",
        description=(
            "Writes lineage.json, report.md and report.html to --out: for each job, who "
            "requested and approved it and when, under which charter version, which dataset "
            "versions (fingerprints) went in and which outputs (digests) came out."
        ),
    )
    add_dir_option(p)
    _lineage_question(p)
    p.add_argument("--out", type=Path, default=Path("audit-report"), help="folder to write to")
    p.set_defaults(handler=report)


def _lineage_question(p: argparse.ArgumentParser) -> None:
    group = p.add_mutually_exclusive_group()
    group.add_argument("--dataset", help="owner/name of a dataset")
    group.add_argument("--job", help="a job's id, or a unique start of it")
    group.add_argument("--output", type=Path, dest="output_file",
                       help="a job's output file (matched by its digest)")


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


def verify_chain(args: argparse.Namespace) -> int:
    with session(args) as s:
        report = audit.verify_chain(s)
    if args.json:
        output.emit_json(report.to_dict())
        return 0 if report.ok else 1
    summary = (
        f"{report.height} blocks, {report.transactions} transactions, "
        f"{report.signatures} signatures and {report.orderer_signatures} orderer signatures "
        f"verified, {report.replayed} transactions replayed"
    )
    if report.ok:
        output.emit_message(f"Chain verified: {summary}; the world state matches the replay.")
        return 0
    output.emit_table(
        f"Chain does NOT verify ({len(report.findings)} finding(s)): {summary}",
        ("block", "tx", "check", "what"),
        [
            (f.block, "" if f.tx_index is None else f"{f.tx_index} {f.tx_id[:16]}", f.check,
             f.detail)
            for f in report.findings
        ],
    )
    return 1


def export(args: argparse.Namespace) -> int:
    with session(args) as s:
        summary = audit.export_job(s, args.job, args.out)
    if args.json:
        output.emit_json(summary)
    else:
        output.emit_message(
            f"wrote {summary['file']}: {summary['transactions']} transactions in "
            f"{summary['blocks']} blocks of a chain of {summary['height']}; check it offline "
            f"with `python -m alliance.verify {summary['file']}`"
        )
    return 0


def _question(args: argparse.Namespace) -> dict[str, Any]:
    return {"dataset": args.dataset, "job": args.job, "output_file": args.output_file}


def lineage(args: argparse.Namespace) -> int:
    with session(args) as s:
        graph = audit.lineage(s, **_question(args))
    if args.json:
        output.emit_json(graph.to_dict())
        return 0
    from alliance.lineage_report import sections

    for heading, lines in sections(graph):
        output.emit_message(heading)
        for line in lines:
            output.emit_message(f"  {line}")
    return 0


def report(args: argparse.Namespace) -> int:
    with session(args) as s:
        paths = audit.report(s, args.out, **_question(args))
    if args.json:
        output.emit_json(paths)
    else:
        output.emit_message(
            f"wrote {paths['markdown']}, {paths['html']} and {paths['json']}"
        )
    return 0


def chain(args: argparse.Namespace) -> int:
    report = audit.check_chain(net_dir(args), lambda: session(args))
    if args.json:
        output.emit_json(report)
    else:
        output.emit_fields("Ledger verified", report)
    return 0
