"""`alliance query lender|events|audit|verify|records|summaries`: the real-time multi-lender query;
argument parsing and rendering only (the use cases live in `alliance.app.query`)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from alliance.app import query
from alliance.app.clock import when
from alliance.cli import output
from alliance.cli.session import add_dir_option, session


def register(groups: Any) -> None:
    parser = groups.add_parser(
        "query", help="real-time multi-lender query: look up an applicant, feed loan events")
    commands = parser.add_subparsers(dest="command", metavar="ACTION", required=True)

    p = commands.add_parser(
        "lender", help="how exposed an applicant is across the other members (loans, "
                       "lenders, outstanding, recent applications)")
    add_dir_option(p)
    p.add_argument("--id", required=True, dest="applicant", help="the applicant's id")
    p.add_argument("--purpose", required=True,
                   help="the purpose code (one the multilender job allows, e.g. credit_check)")
    p.add_argument("--consent", required=True, type=Path,
                   help="the applicant's signed consent document (only a salted commitment "
                        "to it is sent; the nonce stays in your node folder for audits)")
    p.set_defaults(handler=lender)

    p = commands.add_parser(
        "events", help="add your loan events (CSV: kind,applicant_id,date,loan_id,amount_cents) "
                       "and send your new secret-shared contribution to both servers")
    add_dir_option(p)
    p.add_argument("--file", type=Path, default=None,
                   help="the events CSV; without it, re-share your current book now (your node "
                        "also does each new UTC day, as the 7- and 30-day windows move)")
    p.add_argument("--wait", action="store_true",
                   help="return only when both servers serve a table holding it (lookups "
                        "count it from then on); exit 6 at --timeout")
    p.add_argument("--timeout", type=float, default=120.0,
                   help="with --wait: give up after SECONDS (default 120)")
    p.set_defaults(handler=events)

    p = commands.add_parser(
        "audit", help="prove a lookup was made with consent: open its commitments and check "
                      "each server's log entry against the root it committed to the ledger")
    add_dir_option(p)
    p.add_argument("record", help="the lookup's record id (lk-..., or a unique start of it)")
    p.add_argument("--consent", required=True, type=Path, help="the consent document")
    p.set_defaults(handler=audit)

    p = commands.add_parser(
        "verify", help="an auditor's check of a lookup's proof bundle (`query audit --json` "
                       "output) and its consent document against the ledger alone")
    add_dir_option(p)
    p.add_argument("--bundle", required=True, type=Path, help="the `query audit --json` output")
    p.add_argument("--consent", required=True, type=Path, help="the consent document")
    p.set_defaults(handler=verify)

    p = commands.add_parser("records", help="your kept lookup records")
    add_dir_option(p)
    p.set_defaults(handler=records)

    p = commands.add_parser("summaries", help="the servers' committed period summaries")
    add_dir_option(p)
    p.set_defaults(handler=summaries)



def lender(args: argparse.Namespace) -> int:
    with session(args) as s:
        answer = query.lookup(s, args.applicant, args.purpose, args.consent)
    if args.json:
        output.emit_json(answer.to_dict())
    else:
        output.emit_fields(f"Applicant {answer.applicant} across the other members",
                           answer.shown())
        if answer.note():
            output.emit_message(f"note: {answer.note()}")
    return 0


def events(args: argparse.Namespace) -> int:
    from alliance.cli.progress import progress_display

    with session(args) as s, progress_display(args.json) as progress:
        report = query.feed_events(s, args.file, on_progress=progress)
        if args.wait:
            report |= query.wait_visible(s, report["version"], args.timeout, progress)
    if args.json:
        output.emit_json(report)
    else:
        output.emit_message(query.fed_summary(report))
    return 0


def audit(args: argparse.Namespace) -> int:
    with session(args) as s:
        report = query.audit(s, args.record, args.consent)
    if args.json:
        output.emit_json(report)
    else:
        output.emit_message(f"lookup {report['record']} verified: made with consent "
                            f"{report['consent']} for purpose {report['purpose']}")
        for part in report["servers"]:
            output.emit_message(f"  {part['server']}: entry {part['seq']} is in root "
                                f"{part['merkle_root']} (tx {part['summary_tx'][:16]})")
    return 0


def verify(args: argparse.Namespace) -> int:
    with session(args) as s:
        report = query.verify_bundle(s, args.bundle, args.consent)
    if args.json:
        output.emit_json(report)
    else:
        output.emit_message(f"verified: {report['asker']}'s lookup for {report['purpose']} was "
                            f"made with consent {report['consent']}, logged by "
                            f"{', '.join(p['server'] for p in report['servers'])} in roots on "
                            "the ledger")
    return 0


def records(args: argparse.Namespace) -> int:
    with session(args) as s:
        found = query.records(s.net_dir, s.org)
    output.emit_listing(args.json, found, "Lookup records",
                        ("record", "job", "purpose", "at", "answered"),
                        lambda r: (r["record"], r["job_id"], r["purpose"], when(r["at"]),
                                   "yes" if r["answered"]
                                   else f"no: {r['failed']}"),
                        keep=("record",))
    return 0


def summaries(args: argparse.Namespace) -> int:
    with session(args) as s:
        found = query.summaries(s)
    output.emit_listing(
        args.json, found, "Query summaries",
        ("server", "period", "entries", "counts", "merkle root"),
        lambda r: (r["server"], f"{when(r['period_start'])} .. {when(r['period_end'])}",
                   r["entries"], ", ".join(f"{k}={v}" for k, v in sorted(r["counts"].items())),
                   r["merkle_root"]), keep=("merkle root",))
    return 0
