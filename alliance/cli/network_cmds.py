"""`alliance network init|up|down|status|add-org`: create, start and stop an alliance's network.

`up` starts the ledger (devnet, or Fabric from FABRIC_BIN_DIR), puts the charter on it once, and
starts one node daemon per member; `down` stops, by pid, everything `up` started.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from alliance.cli import output
from alliance.cli.parsing import UsageError, split_csv
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
    p.set_defaults(handler=init)

    p = commands.add_parser("up", help="start the ledger and the member nodes; return when ready")
    add_dir_option(p)
    p.add_argument("--engine", choices=("devnet", "fabric"), default="devnet")
    p.add_argument("--batch-size", type=int, default=None, help="devnet: transactions per block")
    p.add_argument("--batch-timeout-ms", type=int, default=None, help="devnet: block cut timeout")
    p.add_argument("--no-nodes", action="store_true", help="start the ledger only")
    p.set_defaults(handler=up)

    p = commands.add_parser("down", help="stop what `up` started")
    add_dir_option(p)
    p.set_defaults(handler=down)

    p = commands.add_parser("status", help="what runs")
    add_dir_option(p)
    p.set_defaults(handler=status)

    p = commands.add_parser("add-org", help="identity material for an org that asks to join")
    add_dir_option(p)
    p.add_argument("new_org", metavar="ORG")
    p.add_argument("--role", choices=("member", "auditor"), default="member")
    p.set_defaults(handler=add_org)


def init(args: argparse.Namespace) -> int:
    from alliance.keystore import get_passphrase
    from alliance.network_init import init_network

    members = split_csv(args.members)
    if not members:
        raise UsageError("--members names no org: e.g. --members bank,telecom,platform")
    target = net_dir(args)
    profile = init_network(
        target, members, split_csv(args.auditors), get_passphrase(), base_port=args.base_port
    )
    orgs = profile.member_orgs()
    if args.json:
        output.emit_json({"dir": str(target), "orgs": orgs, "channel": profile.channel})
    else:
        output.emit_message(
            f"created alliance '{profile.name}' in {target}: {', '.join(orgs)} "
            f"(start it with `alliance network up --dir {target}`)"
        )
    return 0


def ensure_charter(target: Path) -> bool:
    """Put charter.json on the ledger unless it is there already; True if this call did it.

    A founding charter already on the ledger must be the one in NET: any founding admin may
    submit InitCharter, so a different one means somebody got there first with their own."""
    from alliance.canonical import loads
    from alliance.charter import Charter
    from alliance.errors import CharterError
    from alliance.founding import load_signed_charter
    from network.connection import connect_member
    from network.errors import ContractRejected

    charter = Charter.load(target / "charter.json")
    with connect_member(target, charter.voters()[0]) as conn:
        try:
            on_ledger = Charter.model_validate(
                loads(conn.contract.evaluate_transaction("GetCharter"))
            )
        except ContractRejected as exc:
            if exc.error_type not in ("NotFound", "NotAuthorized"):
                raise
        else:
            if on_ledger.version == charter.version and on_ledger != charter:
                raise CharterError(
                    f"the founding charter on the ledger differs from {target / 'charter.json'}: "
                    "another founding admin initialised it with their own; do not use this "
                    "network until the members agree which charter is theirs"
                )
            return False
        signed = load_signed_charter(target)
        conn.contract.submit_transaction("InitCharter", signed.to_json().decode())
    return True


def up(args: argparse.Namespace) -> int:
    from alliance.keystore import get_passphrase
    from alliance.profile import load_profile
    from network.connection import record_engine

    target = net_dir(args).resolve()
    profile = load_profile(target)
    get_passphrase()  # fail now, before starting anything, when the passphrase is missing
    summary: dict[str, Any] = {"dir": str(target), "engine": args.engine}
    if args.engine == "fabric":
        from network.fabric.launcher import start_fabric

        start_fabric(target)
    else:
        from network.devnet.launcher import start_devnet

        options: dict[str, int] = {}
        if args.batch_size:
            options["batch_size"] = args.batch_size
        if args.batch_timeout_ms:
            options["batch_timeout_ms"] = args.batch_timeout_ms
        process = start_devnet(target, port=profile.devnet.port, **options)
        summary["devnet"] = {"pid": process.pid, "port": process.port}
    record_engine(target, args.engine)
    summary["charter_initialised"] = ensure_charter(target)
    if not args.no_nodes:
        from node.launcher import start_nodes

        members = [org for org in profile.member_orgs() if _is_member(profile, org)]
        summary["nodes"] = start_nodes(target, members)
    if args.json:
        output.emit_json(summary)
    else:
        output.emit_message(f"network of {target} is up ({args.engine})")
    return 0


def _is_member(profile: Any, org: str) -> bool:
    return "member" in profile.orgs[org].roles


def down(args: argparse.Namespace) -> int:
    from alliance.profile import load_profile
    from network.connection import current_engine

    target = net_dir(args).resolve()
    profile = load_profile(target)
    stopped: list[str] = []
    try:
        from node.launcher import stop_node
    except ImportError:  # nodes arrive with their own part; nothing of theirs can run without it
        stop_node = None
    if stop_node is not None:
        stopped += [
            f"node {org}"
            for org in profile.member_orgs(include_candidates=True)
            if stop_node(target, org)
        ]
    if current_engine(target) == "fabric":
        from network.fabric.launcher import stop_fabric

        stop_fabric(target)
        stopped.append("fabric")
    else:
        from network.devnet.launcher import stop_devnet

        if stop_devnet(target):
            stopped.append("devnet")
    if args.json:
        output.emit_json({"stopped": stopped})
    else:
        output.emit_message(f"stopped: {', '.join(stopped) or 'nothing was running'}")
    return 0


def status(args: argparse.Namespace) -> int:
    from alliance.profile import load_profile
    from network.connection import current_engine

    target = net_dir(args).resolve()
    profile = load_profile(target)
    engine = current_engine(target)
    rows: list[tuple[str, str, Any, Any]] = []
    if engine == "fabric":
        from network.fabric.launcher import fabric_status

        for name, info in fabric_status(target).items():
            rows.append(
                (
                    name,
                    "running" if info.get("running") else "stopped",
                    info.get("pid"),
                    info.get("port"),
                )
            )
    else:
        from network.devnet.launcher import devnet_status

        dev = devnet_status(target)
        rows.append(("devnet", "running" if dev.running else "stopped", dev.pid, dev.port))
    try:
        from node.launcher import node_status
    except ImportError:
        node_status = None
    if node_status is not None:
        for org in profile.member_orgs():
            if _is_member(profile, org):
                info = node_status(target, org)
                rows.append(
                    (
                        f"node {org}",
                        "running" if info.get("running") else "stopped",
                        info.get("pid"),
                        info.get("port"),
                    )
                )
    if args.json:
        output.emit_json(
            {
                "engine": engine,
                "processes": [
                    {"name": n, "state": s, "pid": p, "port": port} for n, s, p, port in rows
                ],
            }
        )
    else:
        output.emit_table(f"{target} ({engine})", ("process", "state", "pid", "port"), rows)
    return 0


def add_org(args: argparse.Namespace) -> int:
    from alliance.keystore import get_passphrase
    from alliance.network_init import add_org as create_org

    org_dir = create_org(net_dir(args), args.new_org, get_passphrase(), role=args.role)
    if args.json:
        output.emit_json({"org": args.new_org, "dir": str(org_dir)})
    else:
        output.emit_message(
            f"created identities for {args.new_org} in {org_dir}; a member now proposes it with "
            f"`alliance --as ORG member propose --join {args.new_org} --reason ...`"
        )
    return 0
