"""`alliance job request|approve|reject|vote|revoke|claim|expire|expire-run|list|show|history|wait|
result`: argument parsing and rendering; the use cases live in `alliance.app.jobs`, `.results`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from alliance.app import jobs, results
from alliance.app.clock import iso, when
from alliance.cli import output
from alliance.cli.parsing import parse_duration, parse_outputs, parse_pairs
from alliance.cli.session import add_dir_option, session
from alliance.models import Job, JobState

STATES = tuple(s.value for s in JobState)
JOB_ID_HELP = "the job's id, or a unique start of it (e.g. job-14f1)"
INPUT_HELP = (
    "a column of a registered dataset, written ORG/DATASET:COLUMN (e.g. bank/customers:balance); "
    "repeat for each input"
)


def protocols_help() -> str:
    """The protocols, their outputs and parameters (from their specs), for `job request --help`."""
    from alliance.protocols.help import render_protocols

    return "protocols (--protocol NAME):\n\n" + render_protocols()


def register(groups: Any) -> None:
    parser = groups.add_parser("job", help="computations: request, approve, follow, read results")
    commands = parser.add_subparsers(dest="command", metavar="ACTION", required=True)

    p = commands.add_parser(
        "request",
        help="ask the owners to approve a computation",
        epilog=protocols_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_dir_option(p)
    p.add_argument("--protocol", required=True, help="the protocol (listed below)")
    p.add_argument("--input", action="append", required=True, metavar="ORG/DATASET:COLUMN",
                   help=INPUT_HELP)
    p.add_argument("--param", action="append", default=[], metavar="K=V",
                   help="a protocol parameter (listed below); repeat for each")
    p.add_argument("--output", action="append", required=True, metavar="NAME=ORG[,ORG]",
                   help="who receives which output; repeat for each output")
    p.add_argument("--expires", default="24h", help="e.g. 30m, 24h, 7d (default 24h)")
    p.add_argument("--max-runs", type=int, default=1, help="how many times it may run (default 1)")
    p.add_argument("--dealer", default=None, help="a member that supplies correlated randomness")
    p.set_defaults(handler=request_job)

    for name, use_case, help_text in (
        ("approve", jobs.approve_job, "approve the use of your datasets in a job"),
        ("claim", jobs.claim_job, "claim a run (nodes do this themselves)"),
        ("expire", jobs.expire_job, "mark an expired job EXPIRED"),
        ("expire-run", jobs.expire_run,
         "end a RUNNING job past its run deadline: FAILED, naming who owes a receipt"),
    ):
        p = commands.add_parser(name, help=help_text)
        add_dir_option(p)
        p.add_argument("job_id", help=JOB_ID_HELP)
        p.set_defaults(handler=_simple(use_case))

    for name, use_case, help_text in (
        ("reject", jobs.reject_job, "refuse the use of your datasets in a job"),
        ("revoke", jobs.revoke_job, "withdraw a job you requested or approved"),
    ):
        p = commands.add_parser(name, help=help_text)
        add_dir_option(p)
        p.add_argument("job_id", help=JOB_ID_HELP)
        p.add_argument("--reason", required=True,
                       help="why, in a short sentence (at most 300 characters); public: every "
                       "member and auditor reads it on the ledger")
        p.set_defaults(handler=_with_reason(use_case))

    p = commands.add_parser(
        "vote", help="member vote on a job whose protocol the charter puts to a vote"
    )
    add_dir_option(p)
    p.add_argument("job_id", help=JOB_ID_HELP)
    p.add_argument("vote", choices=("yes", "no"))
    p.set_defaults(handler=vote_job)

    p = commands.add_parser("list", help="jobs, by state or participant")
    add_dir_option(p)
    p.add_argument("--state", choices=STATES)
    p.add_argument("--participant")
    p.set_defaults(handler=list_jobs)

    p = commands.add_parser("show", help="one job")
    add_dir_option(p)
    p.add_argument("job_id", help=JOB_ID_HELP)
    p.set_defaults(handler=show_job)

    p = commands.add_parser("history", help="every ledger change of a job")
    add_dir_option(p)
    p.add_argument("job_id", help=JOB_ID_HELP)
    p.set_defaults(handler=job_history)

    p = commands.add_parser(
        "wait",
        help="follow a job's state live (ledger events) until it ends",
        description="Exits 0 when the job COMPLETED, 5 when it ended otherwise, 6 at --timeout.",
    )
    add_dir_option(p)
    p.add_argument("job_id", help=JOB_ID_HELP)
    p.add_argument("--timeout", type=float, default=None, help="give up after SECONDS")
    p.set_defaults(handler=wait_job)

    p = commands.add_parser(
        "why",
        help="why a job failed: the ledger's coded reasons and your own node's local detail",
    )
    add_dir_option(p)
    p.add_argument("job_id", help=JOB_ID_HELP)
    p.set_defaults(handler=job_why)

    p = commands.add_parser(
        "result",
        help="a completed job's output delivered to you: print a value or write a file",
        description=(
            "Values (stats, psi cardinality) are printed; id lists (psi intersection) and "
            "vectors (lr_predict scores) are written as CSV with a header (default) or Parquet, "
            "to --to PATH or ./JOB-OUTPUT.csv. Modelling outputs are shown as tables: the IV "
            "ranking (iv), bin tables (bins.ORG), a model part (model.ORG), AUC/KS and deciles "
            "(evaluation, with ROC, KS and lift charts unless --no-plot), a scorecard "
            "(scorecard.ORG, also written as CSV). The file's digest is checked against the "
            "ledger's first."
        ),
    )
    add_dir_option(p)
    p.add_argument("job_id", help=JOB_ID_HELP)
    p.add_argument("--output", default=None, help="which output (needed if you receive several)")
    p.add_argument("--format", choices=results.FORMATS, default=None, help="csv or parquet")
    p.add_argument("--to", type=Path, default=None, help="where to write the file")
    p.add_argument("--run", type=int, default=0, help="run number (default: the latest)")
    p.add_argument("--no-plot", action="store_true",
                   help="evaluation: print the figures and deciles without the ROC, KS and lift "
                   "charts (never drawn with --json)")
    p.set_defaults(handler=job_result)


def request_job(args: argparse.Namespace) -> int:
    request = jobs.build_request(
        protocol=args.protocol,
        inputs=list(args.input),
        parameters=parse_pairs(args.param, "--param"),
        outputs=parse_outputs(args.output),
        expires_in_seconds=parse_duration(args.expires),
        max_runs=args.max_runs,
        dealer=args.dealer,
    )
    with session(args) as s:
        job = jobs.request_job(s, request)
    if args.json:
        output.emit_json({"job_id": job.id, "state": job.state.value, "job": job_json(job)})
    else:
        print(job.id)
    return 0


def _simple(use_case):  # type: ignore[no-untyped-def]
    def handler(args: argparse.Namespace) -> int:
        with session(args) as s:
            return _show(args, use_case(s, args.job_id))

    return handler


def _with_reason(use_case):  # type: ignore[no-untyped-def]
    def handler(args: argparse.Namespace) -> int:
        with session(args) as s:
            return _show(args, use_case(s, args.job_id, args.reason))

    return handler


def vote_job(args: argparse.Namespace) -> int:
    with session(args) as s:
        return _show(args, jobs.vote_job(s, args.job_id, args.vote))


def show_job(args: argparse.Namespace) -> int:
    with session(args) as s:
        return _show(args, jobs.show_job(s, args.job_id))


def job_json(job: Job) -> dict[str, Any]:
    """The job as the ledger holds it, with ISO strings beside its Unix times."""
    data = job.model_dump(mode="json")
    for key in ("created_at", "expires_at", "updated_at"):
        data[key.replace("_at", "_iso")] = iso(data[key])
    return data


def job_fields(job: Job) -> dict[str, Any]:
    last = job.results.get(str(job.current_run)) if job.current_run else None
    return {
        "state": f"{job.state.value} ({jobs.state_meaning(job)})",
        "protocol": job.protocol,
        "requester": job.requester,
        "inputs": ", ".join(i.ref for i in job.inputs),
        "parameters": ", ".join(f"{k}={v}" for k, v in sorted(job.parameters.items())) or "none",
        "outputs": "; ".join(f"{k} -> {', '.join(v)}" for k, v in sorted(job.outputs.items())),
        "approvals": ", ".join(
            [f"{org} (by its request)" for org, a in sorted(job.approvals.items()) if a.by_request]
            + [
                f"{org}{'' if org in job.approvals else ' (waiting)'}"
                for org in job.required_approvers
            ]
        )
        or "none needed",
        "runs": jobs.runs_text(job),
        "requested": when(job.created_at),
        "expires": when(job.expires_at),
        "run result": last and last.state.value,
        **{
            f"digest of {name}": digest
            for name, digest in sorted((last.output_digests if last else {}).items())
        },
        "disputes": last and "; ".join(last.disputes),
        "failures": "; ".join(f"{org}: {f.reason}" for org, f in sorted(job.failures.items()))
        or None,
        "rejection": job.rejection and f"{job.rejection.org}: {job.rejection.reason}",
        "revocation": job.revocation and f"{job.revocation.org}: {job.revocation.reason}",
    }


def _show(args: argparse.Namespace, job: Job) -> int:
    if args.json:
        output.emit_json(job_json(job))
        return 0
    fields = {k: v for k, v in job_fields(job).items() if v not in (None, "")}
    output.emit_fields(f"Job {job.id}", fields)
    return 0


def list_jobs(args: argparse.Namespace) -> int:
    with session(args) as s:
        found = jobs.list_jobs(s, args.state, args.participant)
    output.emit_listing(
        args.json,
        [job_json(j) for j in found] if args.json else found,
        "Jobs",
        ("id", "protocol", "state", "requester", "participants", "runs", "expires"),
        lambda j: (
            j.id,
            j.protocol,
            j.state.value,
            j.requester,
            ", ".join(j.participants),
            jobs.runs_text(j, short=True),
            when(j.expires_at),
        ),
        keep=("id",),
    )
    return 0


def job_history(args: argparse.Namespace) -> int:
    with session(args) as s:
        full = jobs.resolve_job_id(s, args.job_id)
        entries = jobs.job_history(s, full)
    output.emit_listing(
        args.json,
        [{**h.__dict__, "timestamp_iso": iso(h.timestamp)} for h in entries],
        f"History of {full}",
        ("tx", "time", "state"),
        lambda h: (h["tx_id"], when(h["timestamp"]), (h["value"] or {}).get("state", "")),
        keep=("tx",),
    )
    return 0


def wait_job(args: argparse.Namespace) -> int:
    from alliance.app.progress import Progress
    from alliance.cli.progress import progress_display

    with session(args) as s, progress_display(args.json) as progress:
        def changed(job: Job) -> None:
            progress(Progress(f"{job.id}: {job.state.value} ({jobs.state_meaning(job)})"))
            if not args.json:
                output.emit_message(
                    f"{when(job.updated_at).split(' (')[0]}  {job.id}  {job.state.value}"
                )

        job = jobs.wait_for_job(s, args.job_id, timeout=args.timeout, on_change=changed)
    if args.json:
        output.emit_json(job_json(job))
    else:
        output.emit_message(
            f"{job.id} COMPLETED; read it with `alliance --as {args.org} job result {job.id}`"
        )
    return 0


def job_result(args: argparse.Namespace) -> int:
    with session(args) as s:
        result = results.job_result(
            s, args.job_id, output=args.output, fmt=args.format, to=args.to, run=args.run
        )
    if args.json:
        output.emit_json(result.to_dict())
        return 0
    if result.kind == "value":
        print(result.value)
    elif result.kind == "table" and result.view:
        for key, value in result.view["summary"].items():
            output.emit_message(f"{key}: {value}")
        output.emit_table(f"{result.view['title']} — {result.job_id} run {result.run}",
                          result.view["columns"], result.view["rows"])
        if result.view.get("curves") and not args.no_plot:
            output.emit_charts(result.view["curves"])
    elif result.kind == "histogram":
        counts = result.value["counts"] if result.value else []
        edges = result.value["edges"] if result.value else []
        output.emit_table(
            f"{result.output} of {result.job_id}",
            ("bin", "count"),
            (
                (f"[{edges[i]}, {edges[i + 1]})" if i + 1 < len(edges) else str(i), c)
                for i, c in enumerate(counts)
            ),
        )
    if result.path:
        rows = f"{result.rows} rows, " if result.rows is not None else ""
        output.emit_message(
            f"wrote {result.output} of {result.job_id} run {result.run} to {result.path} "
            f"({rows}{result.format})"
        )
    return 0


def job_why(args: argparse.Namespace) -> int:
    with session(args) as s:
        why = jobs.job_why(s, args.job_id)
    if args.json:
        output.emit_json({"job_id": why.job.id, "state": why.job.state.value,
                          "ledger": why.ledger, "local": why.local})
        return 0
    job = why.job
    output.emit_message(f"{job.id} is {job.state.value} ({jobs.state_meaning(job)})")
    output.emit_table(
        "On the ledger (every member reads this)",
        ("party", "run", "code", "reason", "when"),
        ((org, f["run"], f.get("code") or "", f["reason"], when(f["at"]))
         for org, f in why.ledger.items()),
    )
    output.emit_table(
        f"In the local failure log of {args.org}'s node (never on the ledger)",
        ("run", "code", "input", "row", "peer", "detail", "when"),
        ((e["run"], e["code"], e["input"] or "", e["row"] or "", e["peer"] or "", e["detail"],
          when(e["at"])) for e in why.local),
    )
    if not why.ledger and not why.local:
        output.emit_message("no failure is recorded for this job")
    return 0
