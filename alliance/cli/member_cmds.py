"""`alliance member list|propose|vote|proposals|revoke-cert`: membership by ledger vote."""

from __future__ import annotations

import argparse
from typing import Any

from alliance.canonical import canonical_json
from alliance.cli import output
from alliance.cli.parsing import UsageError, split_csv
from alliance.cli.session import add_dir_option, evaluate, net_dir, submit


def register(groups: Any) -> None:
    parser = groups.add_parser("member", help="members of the alliance and votes on them")
    commands = parser.add_subparsers(dest="command", metavar="ACTION", required=True)

    p = commands.add_parser("list", help="members with their roles and status")
    add_dir_option(p)
    p.set_defaults(handler=list_members)

    p = commands.add_parser("propose", help="propose that an org joins, leaves, or changes roles")
    add_dir_option(p)
    action = p.add_mutually_exclusive_group(required=True)
    action.add_argument("--join", metavar="ORG")
    action.add_argument("--remove", metavar="ORG")
    action.add_argument("--set-roles", metavar="ORG=ROLE[,ROLE]")
    p.add_argument(
        "--role", default="member", choices=("member", "auditor"), help="role of a joining org"
    )
    p.add_argument("--reason", required=True)
    p.set_defaults(handler=propose)

    p = commands.add_parser("vote", help="vote on a pending proposal")
    add_dir_option(p)
    p.add_argument("proposal_id")
    p.add_argument("vote", choices=("yes", "no"))
    p.set_defaults(handler=vote)

    p = commands.add_parser("proposals", help="membership proposals")
    add_dir_option(p)
    p.add_argument("--state", default="", choices=("", "PENDING", "PASSED", "REJECTED", "EXPIRED"))
    p.set_defaults(handler=list_proposals)

    p = commands.add_parser(
        "revoke-cert", help="revoke one of your org's certificates on the ledger"
    )
    add_dir_option(p)
    p.add_argument("fingerprint", help="sha256:<hex> of the certificate (DER)")
    p.set_defaults(handler=revoke_cert)


def list_members(args: argparse.Namespace) -> int:
    output.emit_listing(
        args.json,
        evaluate(args, "ListMembers"),
        "Members",
        ("org", "msp id", "roles", "status", "joined at"),
        lambda m: (m["org"], m["msp_id"], ",".join(m["roles"]), m["status"], m["joined_at"]),
    )
    return 0


def _proposal_request(args: argparse.Namespace) -> dict[str, Any]:
    if args.join:
        from alliance.profile import load_profile

        profile = load_profile(net_dir(args))
        entry = profile.orgs.get(args.join)
        if entry is None:
            raise UsageError(
                f"{args.join!r} has no identity material in this network yet; create it with "
                f"`alliance network add-org --dir NET {args.join}` first"
            )
        return {
            "action": "join",
            "org": args.join,
            "msp_id": entry.msp_id,
            "roles": [args.role],
            "reason": args.reason,
        }
    if args.remove:
        return {"action": "remove", "org": args.remove, "reason": args.reason}
    org, sep, roles = args.set_roles.partition("=")
    if not sep or not split_csv(roles):
        raise UsageError("--set-roles takes ORG=ROLE[,ROLE], e.g. telecom=member,auditor")
    return {"action": "set_roles", "org": org, "roles": split_csv(roles), "reason": args.reason}


def propose(args: argparse.Namespace) -> int:
    proposal = submit(args, "ProposeMember", canonical_json(_proposal_request(args)).decode())
    return _show_proposal(args, proposal)


def vote(args: argparse.Namespace) -> int:
    proposal = submit(args, "VoteProposal", args.proposal_id, args.vote)
    return _show_proposal(args, proposal)


def _show_proposal(args: argparse.Namespace, proposal: dict[str, Any]) -> int:
    if args.json:
        output.emit_json(proposal)
    else:
        output.emit_fields(
            f"Proposal {proposal['id']}",
            {
                "action": proposal["action"],
                "org": proposal["org"],
                "state": proposal["state"],
                "votes": {org: v["vote"] for org, v in proposal["votes"].items()},
                "proposer": proposal["proposer"],
                "reason": proposal["reason"],
            },
        )
    return 0


def list_proposals(args: argparse.Namespace) -> int:
    def row(p: dict[str, Any]) -> tuple[Any, ...]:
        votes = [v["vote"] for v in p["votes"].values()]
        return (
            p["id"],
            p["action"],
            p["org"],
            p["state"],
            votes.count("yes"),
            votes.count("no"),
            p["proposer"],
        )

    output.emit_listing(
        args.json,
        evaluate(args, "ListProposals", args.state),
        "Proposals",
        ("id", "action", "org", "state", "yes", "no", "proposer"),
        row,
    )
    return 0


def revoke_cert(args: argparse.Namespace) -> int:
    record = submit(args, "RevokeCertificate", args.fingerprint)
    if args.json:
        output.emit_json(record)
    else:
        output.emit_message(
            f"revoked {record['fingerprint']} of {record['org']} in tx {record['tx_id']}"
        )
    return 0
