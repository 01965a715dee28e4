"""`alliance job request|approve|reject|vote|revoke|expire|expire-run|list|show|history`."""

from __future__ import annotations

import argparse
from typing import Any

from alliance.canonical import canonical_json
from alliance.cli import output
from alliance.cli.parsing import parse_duration, parse_outputs, parse_pairs
from alliance.cli.session import add_dir_option, evaluate, submit

STATES = (
    "REQUESTED",
    "APPROVED",
    "RUNNING",
    "COMPLETED",
    "FAILED",
    "DISPUTED",
    "REJECTED",
    "REVOKED",
    "EXPIRED",
)


def register(groups: Any) -> None:
    parser = groups.add_parser("job", help="computations: request, approve, follow")
    commands = parser.add_subparsers(dest="command", metavar="ACTION", required=True)

    p = commands.add_parser("request", help="ask the owners to approve a computation")
    add_dir_option(p)
    p.add_argument("--protocol", required=True, help="stats or psi")
    p.add_argument("--input", action="append", required=True, metavar="ORG/DATASET:COLUMN")
    p.add_argument("--param", action="append", default=[], metavar="K=V")
    p.add_argument("--output", action="append", required=True, metavar="NAME=ORG[,ORG]")
    p.add_argument("--expires", default="24h", help="e.g. 30m, 24h, 7d (default 24h)")
    p.add_argument("--max-runs", type=int, default=1)
    p.add_argument("--dealer", default=None)
    p.set_defaults(handler=request_job)

    for name, function, help_text in (
        ("approve", "ApproveJob", "approve the use of your datasets in a job"),
        ("claim", "ClaimJob", "claim a run (nodes do this themselves)"),
        ("expire", "ExpireJob", "mark an expired job EXPIRED"),
        ("expire-run", "ExpireRun",
         "end a RUNNING job past its run deadline: FAILED, naming who owes a receipt"),
    ):
        p = commands.add_parser(name, help=help_text)
        add_dir_option(p)
        p.add_argument("job_id")
        p.set_defaults(handler=_simple(function))

    for name, function, help_text in (
        ("reject", "RejectJob", "refuse the use of your datasets in a job"),
        ("revoke", "RevokeJob", "withdraw a job you requested or approved"),
    ):
        p = commands.add_parser(name, help=help_text)
        add_dir_option(p)
        p.add_argument("job_id")
        p.add_argument("--reason", required=True)
        p.set_defaults(handler=_with_reason(function))

    p = commands.add_parser(
        "vote", help="member vote on a job whose protocol the charter puts to a vote"
    )
    add_dir_option(p)
    p.add_argument("job_id")
    p.add_argument("vote", choices=("yes", "no"))
    p.set_defaults(handler=vote_job)

    p = commands.add_parser("list", help="jobs, by state or participant")
    add_dir_option(p)
    p.add_argument("--state", choices=STATES)
    p.add_argument("--participant")
    p.set_defaults(handler=list_jobs)

    p = commands.add_parser("show", help="one job")
    add_dir_option(p)
    p.add_argument("job_id")
    p.set_defaults(handler=show_job)

    p = commands.add_parser("history", help="every ledger change of a job")
    add_dir_option(p)
    p.add_argument("job_id")
    p.set_defaults(handler=job_history)


def request_job(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {
        "protocol": args.protocol,
        "inputs": list(args.input),
        "parameters": parse_pairs(args.param, "--param"),
        "outputs": parse_outputs(args.output),
        "expires_in_seconds": parse_duration(args.expires),
        "max_runs": args.max_runs,
    }
    if args.dealer:
        body["dealer"] = args.dealer
    job = submit(args, "RequestJob", canonical_json(body).decode())
    if args.json:
        output.emit_json({"job_id": job["id"], "state": job["state"], "job": job})
    else:
        print(job["id"])
    return 0


def _simple(function: str):  # type: ignore[no-untyped-def]
    def handler(args: argparse.Namespace) -> int:
        return _show(args, submit(args, function, args.job_id))

    return handler


def _with_reason(function: str):  # type: ignore[no-untyped-def]
    def handler(args: argparse.Namespace) -> int:
        return _show(args, submit(args, function, args.job_id, args.reason))

    return handler


def vote_job(args: argparse.Namespace) -> int:
    return _show(args, submit(args, "VoteJob", args.job_id, args.vote))


def show_job(args: argparse.Namespace) -> int:
    return _show(args, evaluate(args, "GetJob", args.job_id))


def _show(args: argparse.Namespace, job: dict[str, Any]) -> int:
    if args.json:
        output.emit_json(job)
        return 0
    results = job.get("results", {})
    last = results.get(str(job["current_run"])) if job["current_run"] else None
    output.emit_fields(
        f"Job {job['id']}",
        {
            "state": job["state"],
            "protocol": job["protocol"],
            "requester": job["requester"],
            "inputs": ", ".join(i["ref"] for i in job["inputs"]),
            "parameters": job["parameters"],
            "outputs": {k: ",".join(v) for k, v in job["outputs"].items()},
            "approvals": ", ".join(
                f"{org}{'' if org in job['approvals'] else ' (waiting)'}"
                for org in job["required_approvers"]
            )
            or "none needed",
            "runs": f"{job['runs_used']} of {job['max_runs']}",
            "expires at": job["expires_at"],
            "result": last
            and {
                "state": last["state"],
                "digests": last["output_digests"],
                "disputes": last["disputes"],
            },
            "failures": {org: f["reason"] for org, f in job["failures"].items()} or None,
            "rejection": job["rejection"] and job["rejection"]["reason"],
        },
    )
    return 0


def list_jobs(args: argparse.Namespace) -> int:
    query: dict[str, Any] = {}
    if args.state:
        query["state"] = args.state
    if args.participant:
        query["participant"] = args.participant
    output.emit_listing(
        args.json,
        evaluate(args, "ListJobs", canonical_json(query).decode()),
        "Jobs",
        ("id", "protocol", "state", "requester", "participants", "runs", "expires at"),
        lambda j: (
            j["id"],
            j["protocol"],
            j["state"],
            j["requester"],
            ",".join(j["participants"]),
            f"{j['runs_used']}/{j['max_runs']}",
            j["expires_at"],
        ),
    )
    return 0


def job_history(args: argparse.Namespace) -> int:
    output.emit_listing(
        args.json,
        evaluate(args, "JobHistory", args.job_id),
        f"History of {args.job_id}",
        ("tx", "timestamp", "state"),
        lambda h: (h["tx_id"], h["timestamp"], (h.get("value") or {}).get("state", "")),
    )
    return 0
