"""`alliance node run|restart|status|outputs`: a member's node daemon in the foreground or brought
back in the background, its state, and the outputs it has delivered (with their values)."""

from __future__ import annotations

import argparse
from typing import Any

from alliance.app import network, nodes, results
from alliance.cli import output
from alliance.cli.parsing import positive_seconds
from alliance.cli.session import acting_org, add_dir_option, net_dir


def register(groups: Any) -> None:
    parser = groups.add_parser("node", help="the member's node daemon")
    commands = parser.add_subparsers(dest="command", metavar="ACTION", required=True)

    p = commands.add_parser("run", help="run the node of --as ORG in the foreground")
    add_dir_option(p)
    p.add_argument(
        "--job-deadline",
        type=positive_seconds,
        default=120.0,
        help="longest a protocol run may take, in seconds",
    )
    p.set_defaults(handler=run_node)

    p = commands.add_parser(
        "restart", help="bring the node of --as ORG back in the background (stop it if it runs)"
    )
    add_dir_option(p)
    p.add_argument(
        "--now", action="store_true",
        help="do not wait for running jobs to finish: they fail with node_stopped",
    )
    p.set_defaults(handler=restart_node)

    p = commands.add_parser("status", help="whether the node runs, and its recent job runs")
    add_dir_option(p)
    p.set_defaults(handler=node_status)

    p = commands.add_parser("outputs", help="outputs this node has delivered, with their values")
    add_dir_option(p)
    p.set_defaults(handler=node_outputs)


def run_node(args: argparse.Namespace) -> int:
    import logging
    import sys

    from node.__main__ import serve

    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    return serve(net_dir(args).resolve(), acting_org(args), job_deadline=args.job_deadline)


def restart_node(args: argparse.Namespace) -> int:
    from alliance.app.progress import Progress
    from alliance.cli.progress import progress_display

    drain = None if args.now else network.NODE_DRAIN_SECONDS
    with progress_display(args.json) as progress:
        if drain is not None:
            progress(Progress(f"running jobs finish first (up to {drain:.0f} s; --now aborts)"))
        component = network.restart_node(net_dir(args), acting_org(args), drain=drain)
    if args.json:
        output.emit_json(component.to_dict())
    else:
        output.emit_message(
            f"{component.name} runs again (pid {component.pid}, MPC endpoint "
            f"{component.endpoint})"
        )
    return 0


def node_status(args: argparse.Namespace) -> int:
    report = nodes.node_report(net_dir(args), acting_org(args))
    if args.json:
        output.emit_json(report.to_dict())
        return 0
    output.emit_fields(
        f"Node of {report.org}",
        {
            "state": "running" if report.running else "stopped",
            "pid": report.pid,
            "MPC port": report.port,
            "log": report.log,
            "datasets": ", ".join(report.datasets) or "none",
            "ledger checkpoint": f"block {report.checkpoint_block}",
        },
    )
    output.emit_table(
        "Job runs",
        ("job", "run", "state", "detail"),
        ((r["job_id"], r["run"], r["state"], r["detail"]) for r in report.runs),
        keep=("job",),
    )
    return 0


def node_outputs(args: argparse.Namespace) -> int:
    target, org = net_dir(args), acting_org(args)
    if args.json:
        output.emit_json(results.delivered_runs(target, org))
        return 0
    found = results.delivered_outputs(target, org)
    output.emit_table(
        f"Outputs delivered to {org}",
        ("job", "run", "output", "value", "file"),
        (
            (o.job_id, o.run, o.name,
             o.value if o.value is not None else f"{o.kind}, {o.bytes} bytes", o.path)
            for o in found
        ),
        keep=("job", "file"),
    )
    if found:
        output.emit_message(
            "read one with `alliance --as ORG job result JOB [--output NAME] [--to PATH]`"
        )
    return 0
