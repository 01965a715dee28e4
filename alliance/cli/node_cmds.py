"""`alliance node run|status|outputs`: a member's node daemon in the foreground, its state, and
the outputs it has delivered."""

from __future__ import annotations

import argparse
from typing import Any

from alliance.cli import output
from alliance.cli.parsing import positive_seconds
from alliance.cli.session import acting_org, add_dir_option, net_dir


def register(groups: Any) -> None:
    parser = groups.add_parser("node", help="the member's node daemon")
    commands = parser.add_subparsers(dest="command", metavar="ACTION", required=True)

    p = commands.add_parser("run", help="run the node of --as ORG in the foreground")
    add_dir_option(p)
    p.add_argument("--as", dest="sub_org", default=None, help="the member org (or before `node`)")
    p.add_argument(
        "--job-deadline",
        type=positive_seconds,
        default=120.0,
        help="longest a protocol run may take, in seconds",
    )
    p.set_defaults(handler=run_node)

    p = commands.add_parser("status", help="whether the node runs, and its recent job runs")
    add_dir_option(p)
    p.add_argument("--as", dest="sub_org", default=None)
    p.set_defaults(handler=node_status)

    p = commands.add_parser("outputs", help="outputs this node has delivered")
    add_dir_option(p)
    p.add_argument("--as", dest="sub_org", default=None)
    p.set_defaults(handler=node_outputs)


def _org(args: argparse.Namespace) -> str:
    if getattr(args, "sub_org", None):
        return str(args.sub_org)
    return acting_org(args)


def run_node(args: argparse.Namespace) -> int:
    import logging
    import sys

    from node.__main__ import serve

    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    return serve(net_dir(args).resolve(), _org(args), job_deadline=args.job_deadline)


def node_status(args: argparse.Namespace) -> int:
    from node.launcher import node_status as status_of
    from node.paths import node_store_path
    from node.store import NodeStore

    target, org = net_dir(args).resolve(), _org(args)
    info = status_of(target, org)
    store = NodeStore(node_store_path(target, org))
    runs = [
        {"job_id": r.job_id, "run": r.run, "state": r.state, "detail": r.detail}
        for r in store.runs()
    ]
    checkpoint = store.checkpoint()
    info.update(
        runs=runs,
        checkpoint={"block": checkpoint.block, "tx_id": checkpoint.tx_id},
        datasets=[d.name for d in store.datasets()],
    )
    if args.json:
        output.emit_json(info)
        return 0
    output.emit_fields(
        f"Node of {org}",
        {
            "state": "running" if info["running"] else "stopped",
            "pid": info["pid"],
            "MPC port": info["port"],
            "log": info["log"],
            "datasets": ", ".join(info["datasets"]) or "none",
            "ledger checkpoint": f"block {checkpoint.block}",
        },
    )
    output.emit_table(
        "Job runs",
        ("job", "run", "state", "detail"),
        ((r["job_id"], r["run"], r["state"], r["detail"][:80]) for r in runs),
    )
    return 0


def node_outputs(args: argparse.Namespace) -> int:
    from node.outputs import list_outputs
    from node.paths import outputs_dir

    found = list_outputs(outputs_dir(net_dir(args).resolve(), _org(args)))
    if args.json:
        output.emit_json(found)
        return 0
    output.emit_table(
        "Delivered outputs",
        ("job", "run", "protocol", "output", "digest", "receipt tx", "dir"),
        (
            (
                m["job_id"],
                m["run"],
                m.get("protocol", ""),
                name,
                o["digest"][:23] + "…",
                str(m.get("receipt_tx", ""))[:16],
                m["dir"],
            )
            for m in found
            for name, o in sorted(m["outputs"].items())
        ),
    )
    return 0
