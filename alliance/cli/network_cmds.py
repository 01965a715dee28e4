"""`alliance network init|up|down|status|add-org|repair`: create, start, stop and repair an
alliance's network; the use cases live in `alliance.app.network`.

`up` starts whatever of the network is not running — the ledger (devnet, or Fabric from
FABRIC_BIN_DIR), the charter on it once, one node daemon per member — and reports each component
with its endpoint; `down` stops, by pid, everything `up` started.
"""

from __future__ import annotations

import argparse
from typing import Any

from alliance.app import network
from alliance.cli import output
from alliance.cli.parsing import split_csv
from alliance.cli.progress import progress_display
from alliance.cli.session import add_dir_option, net_dir


def register(groups: Any) -> None:
    parser = groups.add_parser("network", help="create, start, stop the alliance's network")
    commands = parser.add_subparsers(dest="command", metavar="ACTION", required=True)

    p = commands.add_parser(
        "init", help="identities (MSPs), charter and profile for a new alliance"
    )
    add_dir_option(p)
    p.add_argument(
        "--members", required=True, help="comma-separated member orgs, e.g. bank,telecom"
    )
    p.add_argument("--auditors", default="", help="comma-separated auditor orgs, e.g. regulator")
    p.add_argument(
        "--base-port", type=int, default=0, help="first of a block of ports (0: free ports)"
    )
    p.add_argument(
        "--devnet-port", type=int, default=None,
        help="devnet's fixed port (default: one free now, kept across down/up)",
    )
    p.set_defaults(handler=init)

    p = commands.add_parser(
        "up",
        help="start what is not running of the ledger and the member nodes; return when ready",
        description=(
            "Idempotent: starts only what is not running (after a crash, exactly what is "
            "missing) and reports every component with its endpoint. Uses the engine NET was "
            "last run with; another needs --switch-engine (the two ledgers are separate)."
        ),
    )
    add_dir_option(p)
    p.add_argument("--engine", choices=network.ENGINES, default=None,
                   help="devnet (default for a new NET) or fabric")
    p.add_argument("--switch-engine", action="store_true",
                   help="start another engine than NET last ran (its ledger is separate)")
    p.add_argument("--devnet-port", type=int, default=None,
                   help="move devnet to this port (kept in NET for later runs)")
    p.add_argument("--batch-size", type=int, default=None, help="devnet: transactions per block")
    p.add_argument("--batch-timeout-ms", type=int, default=None, help="devnet: block cut timeout")
    p.add_argument("--no-nodes", action="store_true", help="start the ledger only")
    p.set_defaults(handler=up)

    p = commands.add_parser("down", help="stop what `up` started")
    add_dir_option(p)
    p.set_defaults(handler=down)

    p = commands.add_parser("status", help="every component, running or stopped")
    add_dir_option(p)
    p.set_defaults(handler=status)

    p = commands.add_parser(
        "repair", help="devnet: rebuild the world state from the blocks (devnet stopped)"
    )
    add_dir_option(p)
    p.set_defaults(handler=repair)

    p = commands.add_parser("add-org", help="identity material for an org that asks to join")
    add_dir_option(p)
    p.add_argument("new_org", metavar="ORG")
    p.add_argument("--role", choices=("member", "auditor"), default="member")
    p.set_defaults(handler=add_org)

    p = commands.add_parser(
        "peer-env",
        help="run Fabric's own CLI (e.g. `peer channel getinfo`) as ORG's admin (engine fabric)",
    )
    add_dir_option(p)
    p.add_argument("cmd", nargs=argparse.REMAINDER, help="-- COMMAND ARGS (default: $SHELL)")
    p.set_defaults(handler=peer_env)


def init(args: argparse.Namespace) -> int:
    target = net_dir(args)
    profile = network.init(
        target, split_csv(args.members), split_csv(args.auditors),
        base_port=args.base_port, devnet_port=args.devnet_port,
    )
    orgs = profile.member_orgs()
    if args.json:
        output.emit_json({"dir": str(target), "orgs": orgs, "channel": profile.channel,
                          "devnet": profile.devnet.address})
    else:
        output.emit_message(
            f"created alliance '{profile.name}' in {target}: {', '.join(orgs)}; devnet will "
            f"serve at {profile.devnet.address} (start it with "
            f"`alliance network up --dir {target}`)"
        )
    return 0


def _components(title: str, report: network.NetworkReport, with_action: bool) -> None:
    columns = ("component", "state", "endpoint", "pid") + (("action",) if with_action else ())
    output.emit_table(
        title,
        columns,
        (
            (c.name, "running" if c.running else "stopped", c.endpoint or "", c.pid or "")
            + ((c.action,) if with_action else ())
            for c in report.components
        ),
        keep=("component", "endpoint"),
    )


def up(args: argparse.Namespace) -> int:
    with progress_display(args.json) as progress:
        report = network.up(
            net_dir(args), engine=args.engine, switch_engine=args.switch_engine,
            batch_size=args.batch_size, batch_timeout_ms=args.batch_timeout_ms,
            nodes=not args.no_nodes, devnet_port=args.devnet_port, progress=progress,
        )
    if args.json:
        output.emit_json(report.to_dict())
    else:
        _components(f"network of {report.dir} is up ({report.engine})", report, True)
    return 0


def down(args: argparse.Namespace) -> int:
    stopped = network.down(net_dir(args))
    if args.json:
        output.emit_json({"stopped": stopped})
    else:
        output.emit_message(f"stopped: {', '.join(stopped) or 'nothing was running'}")
    return 0


def status(args: argparse.Namespace) -> int:
    report = network.status(net_dir(args))
    if args.json:
        data = report.to_dict()
        data["processes"] = [
            {"name": c.name, "state": "running" if c.running else "stopped", "pid": c.pid,
             "endpoint": c.endpoint}
            for c in report.components
        ]
        output.emit_json(data)
    else:
        _components(f"{report.dir} ({report.engine})", report, False)
    return 0


def repair(args: argparse.Namespace) -> int:
    fields = network.repair(net_dir(args))
    if args.json:
        output.emit_json(fields)
    else:
        output.emit_fields(
            "Ledger repaired from its blocks; start it with `alliance network up`", fields
        )
    return 0


def add_org(args: argparse.Namespace) -> int:
    org_dir = network.add_org(net_dir(args), args.new_org, role=args.role)
    if args.json:
        output.emit_json({"org": args.new_org, "dir": str(org_dir)})
    else:
        output.emit_message(
            f"created identities for {args.new_org} in {org_dir}; a member now proposes it with "
            f"`alliance --as ORG member propose --join {args.new_org} --reason ...`"
        )
    return 0


def peer_env(args: argparse.Namespace) -> int:
    """Run a command with the stock `peer` CLI's environment; the decrypted admin MSP it uses
    is removed when the command ends (network.fabric.peerenv)."""
    import os
    import sys

    from alliance.cli.session import acting_org
    from alliance.keystore import get_passphrase
    from network.fabric.peerenv import SHOWN, run_as

    org = acting_org(args)
    command = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    command = command or [os.environ.get("SHELL", "/bin/sh")]

    def announce(env: dict[str, str]) -> None:
        shown = " ".join(f"{k}={env[k]}" for k in SHOWN)
        print(f"{org}'s admin for Fabric's CLI: {shown}", file=sys.stderr)

    return run_as(net_dir(args), org, get_passphrase(), command, announce=announce).returncode
