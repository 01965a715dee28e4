"""Membership use cases: list members, propose a join/removal/role change, vote, list proposals,
revoke one of the org's certificates."""

from __future__ import annotations

from typing import Any

from alliance.app.errors import BadInput, mapped_errors
from alliance.app.ids import FULL_PROPOSAL_ID, unique_prefix
from alliance.app.session import Session
from alliance.canonical import canonical_json
from alliance.models import Member, Proposal, ProposalRequest, RevokedCertificate


def list_members(session: Session) -> list[Member]:
    return [Member.model_validate(m) for m in session.evaluate("ListMembers")]


def list_proposals(session: Session, state: str = "") -> list[Proposal]:
    return [Proposal.model_validate(p) for p in session.evaluate("ListProposals", state)]


def resolve_proposal_id(session: Session, text: str) -> str:
    if FULL_PROPOSAL_ID.match(text):
        return text
    ids = [p["id"] for p in session.evaluate("ListProposals", "")]
    return unique_prefix(text, ids, "proposal", "alliance member proposals")


def _request(**fields: Any) -> str:
    from pydantic import ValidationError

    from alliance.app.errors import validation_message

    try:
        request = ProposalRequest.model_validate(fields, strict=False)
    except ValidationError as exc:
        raise BadInput(f"the proposal is not valid: {validation_message(exc)}") from exc
    return canonical_json(request.model_dump(mode="json", exclude_none=True)).decode()


def propose_join(session: Session, org: str, role: str, reason: str) -> Proposal:
    """Propose that `org` (its identities made by `alliance network add-org`) joins."""
    from alliance.profile import load_profile

    with mapped_errors():
        profile = load_profile(session.net_dir)
    entry = profile.orgs.get(org)
    if entry is None:
        raise BadInput(
            f"{org!r} has no identity material in this network yet; create it with "
            f"`alliance network add-org --dir {session.net_dir} {org}` first"
        )
    body = _request(action="join", org=org, msp_id=entry.msp_id, roles=(role,), reason=reason)
    return Proposal.model_validate(session.submit("ProposeMember", body))


def propose_removal(session: Session, org: str, reason: str) -> Proposal:
    body = _request(action="remove", org=org, reason=reason)
    return Proposal.model_validate(session.submit("ProposeMember", body))


def propose_roles(session: Session, org: str, roles: list[str], reason: str) -> Proposal:
    if not roles:
        raise BadInput("name at least one role: ORG=ROLE[,ROLE], e.g. telecom=member,auditor")
    body = _request(action="set_roles", org=org, roles=tuple(roles), reason=reason)
    return Proposal.model_validate(session.submit("ProposeMember", body))


def propose_query_servers(session: Session, servers: list[str], reason: str) -> Proposal:
    """Propose the two members that run the multi-lender query servers (A then B); a charter
    change, passed by the usual membership vote."""
    if len(servers) != 2:
        raise BadInput("--query-servers takes two members, A then B, e.g. bank,telecom")
    body = _request(action="set_query_servers", org=servers[0], servers=tuple(servers),
                    reason=reason)
    return Proposal.model_validate(session.submit("ProposeMember", body))


def vote_proposal(session: Session, proposal_id: str, vote: str) -> Proposal:
    full = resolve_proposal_id(session, proposal_id)
    return Proposal.model_validate(session.submit("VoteProposal", full, vote))


def revoke_certificate(session: Session, fingerprint: str) -> RevokedCertificate:
    return RevokedCertificate.model_validate(session.submit("RevokeCertificate", fingerprint))
