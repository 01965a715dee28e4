"""`alliance member list|propose|vote|proposals|revoke-cert`: membership by ledger vote; the use
cases live in `alliance.app.members`."""

from __future__ import annotations

import argparse
from typing import Any

from alliance.app import members
from alliance.app.clock import iso, when
from alliance.cli import output
from alliance.cli.parsing import UsageError, split_csv
from alliance.cli.session import add_dir_option, session
from alliance.models import Proposal


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
    action.add_argument("--query-servers", metavar="A,B",
                        help="the two members that run the multi-lender query servers")
    p.add_argument(
        "--role", default="member", choices=("member", "auditor"), help="role of a joining org"
    )
    p.add_argument("--reason", required=True,
                   help="why, in a short sentence; public: every member and auditor reads it")
    p.set_defaults(handler=propose)

    p = commands.add_parser("vote", help="vote on a pending proposal")
    add_dir_option(p)
    p.add_argument("proposal_id", help="the proposal's id, or a unique start of it")
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
    with session(args) as s:
        found = members.list_members(s)
    output.emit_listing(
        args.json,
        [{**m.model_dump(mode="json"), "joined_iso": iso(m.joined_at)} for m in found],
        "Members",
        ("org", "msp id", "roles", "status", "joined"),
        lambda m: (m["org"], m["msp_id"], ",".join(m["roles"]), m["status"],
                   when(m["joined_at"])),
    )
    return 0


def propose(args: argparse.Namespace) -> int:
    with session(args) as s:
        if args.join:
            proposal = members.propose_join(s, args.join, args.role, args.reason)
        elif args.remove:
            proposal = members.propose_removal(s, args.remove, args.reason)
        elif args.query_servers is not None:
            proposal = members.propose_query_servers(s, split_csv(args.query_servers),
                                                     args.reason)
        else:
            org, sep, roles = args.set_roles.partition("=")
            if not sep or not split_csv(roles):
                raise UsageError("--set-roles takes ORG=ROLE[,ROLE], e.g. telecom=member,auditor")
            proposal = members.propose_roles(s, org, split_csv(roles), args.reason)
    return _show_proposal(args, proposal)


def vote(args: argparse.Namespace) -> int:
    with session(args) as s:
        return _show_proposal(args, members.vote_proposal(s, args.proposal_id, args.vote))


def proposal_json(proposal: Proposal) -> dict[str, Any]:
    data = proposal.model_dump(mode="json")
    data["expires_iso"] = iso(proposal.expires_at)
    data["created_iso"] = iso(proposal.created_at)
    return data


def _show_proposal(args: argparse.Namespace, proposal: Proposal) -> int:
    if args.json:
        output.emit_json(proposal_json(proposal))
    else:
        output.emit_fields(
            f"Proposal {proposal.id}",
            {
                "action": proposal.action,
                "org": proposal.org,
                "state": proposal.state.value,
                "votes": ", ".join(f"{o}: {v.vote}" for o, v in sorted(proposal.votes.items())),
                "proposer": proposal.proposer,
                "reason": proposal.reason,
                "expires": when(proposal.expires_at),
            },
        )
    return 0


def list_proposals(args: argparse.Namespace) -> int:
    with session(args) as s:
        found = members.list_proposals(s, args.state)

    def row(p: Proposal) -> tuple[Any, ...]:
        votes = [v.vote for v in p.votes.values()]
        return (p.id, p.action, p.org, p.state.value, votes.count("yes"), votes.count("no"),
                p.proposer, when(p.expires_at))

    output.emit_listing(
        args.json,
        [proposal_json(p) for p in found] if args.json else found,
        "Proposals",
        ("id", "action", "org", "state", "yes", "no", "proposer", "expires"),
        row,
        keep=("id",),
    )
    return 0


def revoke_cert(args: argparse.Namespace) -> int:
    with session(args) as s:
        record = members.revoke_certificate(s, args.fingerprint)
    if args.json:
        output.emit_json(record.model_dump(mode="json"))
    else:
        output.emit_message(f"revoked {record.fingerprint} of {record.org} in tx {record.tx_id}")
    return 0
