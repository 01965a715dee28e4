"""Charter and membership: who belongs, decided by vote, and whose certificates still count.

The founding charter goes on the ledger once: submitted by one founder (InitCharter), in effect
only when every founding org has accepted it by its own transaction (AcceptCharter); afterwards
only a passed proposal changes it, in the same transaction as the deciding vote. A proposal
passes at `Charter.votes_needed()` yes votes of the current voting members (the proposer's
proposal is its yes vote), is rejected as soon as passing has become impossible, and expires
after the charter's `proposal_ttl_seconds`.
"""

from __future__ import annotations

from alliance.canonical import is_digest, sha256_digest
from alliance.charter import Charter, MemberEntry, check_org_name, msp_id_for
from alliance.errors import CharterError
from alliance.founding import SignedCharter, verified_charter
from alliance.identity import Identity
from alliance.models import (
    Member,
    MemberStatus,
    PendingCharter,
    Proposal,
    ProposalRequest,
    ProposalState,
    RevocationOptions,
    RevokedCertificate,
    TxMark,
    Vote,
)
from chaincode import keys
from chaincode.context import Context, parse_request
from chaincode.contracts.query_servers import check_query_servers_proposal, with_query_servers
from chaincode.errors import Conflict, Expired, InvalidArgument, NotAuthorized, NotFound

MEMBER_EVENTS = {
    "join": "MemberJoined",
    "remove": "MemberRemoved",
    "set_roles": "MemberRolesChanged",
    "set_query_servers": "QueryServersChanged",
}


# --- charter -----------------------------------------------------------------------------------


def init_charter(ctx: Context, signed_json: str) -> dict:
    """Submit the founding charter: by the founding admin of one of its voting members, with every
    founding admin's signature over it (alliance/founding.py).

    It stays pending until every founding org has accepted it by its own transaction
    (AcceptCharter): a signature only names a certificate, and only the ledger's MSP can tell that
    a certificate is really that org's, which it does for each transaction's creator. The
    submitter's own transaction is its org's acceptance. Submitting the same charter again is
    that acceptance repeated (harmless)."""
    _no_charter_in_effect(ctx)
    try:
        charter = verified_charter(SignedCharter.from_json(signed_json))
    except CharterError as exc:
        raise InvalidArgument(str(exc)) from exc
    identity = ctx.creator_identity()
    org = charter.org_of_msp(identity.msp_id)
    if org is None or "member" not in charter.members[org].roles:
        raise NotAuthorized(
            f"only an admin of a voting member named in the charter may initialise it; "
            f"{identity.msp_id} is not one"
        )
    _check_founding_admin(identity, charter, org, "initialise the charter")
    charter_hash = sha256_digest(charter.to_json())
    pending = ctx.get_record(keys.pending_charter(charter_hash), PendingCharter)
    if pending is None:
        pending = PendingCharter(
            charter_hash=charter_hash,
            charter=charter.model_dump(mode="json"),
            submitted_by=org,
            submitted_tx=ctx.tx_id,
        )
        return _accept(ctx, pending, org, submitted=True)
    return _accept(ctx, pending, org)


def accept_charter(ctx: Context, charter_hash: str) -> dict:
    """A founding org accepts the pending founding charter `charter_hash`, by a transaction of its
    founding admin (the certificate the charter names, validated by the ledger's MSP). The last
    founder's acceptance puts the charter in effect; accepting twice is harmless."""
    if not is_digest(charter_hash):
        raise InvalidArgument(
            f"{charter_hash!r} is not a charter hash: expected 'sha256:<64 hex>' (the sha256 of "
            "the charter's canonical JSON, as `alliance network up` prints it)"
        )
    identity = ctx.creator_identity()
    pending = ctx.get_record(keys.pending_charter(charter_hash), PendingCharter)
    if pending is None:
        founding = ctx.get_record(keys.FOUNDING_CHARTER, PendingCharter)
        if founding is not None and founding.charter_hash == charter_hash:
            org = Charter.model_validate(founding.charter).org_of_msp(identity.msp_id)
            if org is not None and org in founding.accepted:
                return _status(founding, in_effect=True)  # accepted already: harmless
        _no_charter_in_effect(ctx)
        raise NotFound(
            f"no founding charter {charter_hash} is pending; check the hash `alliance network "
            "up` printed, or submit the founding charter first with `alliance network up`"
        )
    charter = Charter.model_validate(pending.charter)
    org = charter.org_of_msp(identity.msp_id)
    if org is None or org not in charter.founders:
        raise NotAuthorized(
            f"{identity.msp_id} is not a founding org of charter {charter_hash}; only its "
            f"founders ({', '.join(sorted(charter.founders))}) accept it"
        )
    _check_founding_admin(identity, charter, org, "accept the founding charter")
    return _accept(ctx, pending, org)


def _no_charter_in_effect(ctx: Context) -> None:
    if ctx.has_charter():
        current = ctx.charter()
        raise Conflict(
            f"the charter {current.name!r} (version {current.version}) is already in effect on "
            "the ledger; change membership with ProposeMember"
        )


def _check_founding_admin(identity: Identity, charter: Charter, org: str, action: str) -> None:
    if identity.role != "admin":
        raise NotAuthorized(
            f"only {org}'s founding admin may {action}; you signed with a {identity.role} "
            "certificate"
        )
    if identity.fingerprint != charter.founders.get(org):
        raise NotAuthorized(
            f"only {org}'s founding admin (the certificate the charter names for {org}) may "
            f"{action}; you signed with another certificate"
        )


def _accept(ctx: Context, pending: PendingCharter, org: str, *, submitted: bool = False) -> dict:
    """Record `org`'s acceptance; put the charter in effect when it is the last one awaited."""
    if org in pending.accepted:
        return _status(pending, in_effect=False)  # accepted already: nothing changes
    accepted = {**pending.accepted, org: TxMark(tx_id=ctx.tx_id, at=ctx.now)}
    pending = pending.model_copy(update={"accepted": accepted})
    if pending.awaiting():
        ctx.put_record(keys.pending_charter(pending.charter_hash), pending)
        ctx.emit(
            "CharterSubmitted" if submitted else "CharterAccepted",
            {"charter_hash": pending.charter_hash, "org": org, "awaiting": pending.awaiting(),
             "state": "pending"},
        )
        return _status(pending, in_effect=False)
    charter = Charter.model_validate(pending.charter)
    if not submitted:
        ctx.delete(keys.pending_charter(pending.charter_hash))
    ctx.put_record(keys.FOUNDING_CHARTER, pending)
    ctx.save_charter(charter)
    for name, entry in sorted(charter.members.items()):
        ctx.put_record(
            keys.member(name),
            Member(
                org=name,
                msp_id=entry.msp_id,
                roles=list(entry.roles),
                joined_at=ctx.now,
                updated_tx=ctx.tx_id,
            ),
        )
    ctx.emit(
        "CharterInitialized",
        {"charter_hash": pending.charter_hash, "name": charter.name, "version": charter.version,
         "members": sorted(charter.members), "state": "initialized"},
    )
    return _status(pending, in_effect=True)


def _status(pending: PendingCharter, *, in_effect: bool) -> dict:
    return {
        "charter_hash": pending.charter_hash,
        "charter": pending.charter,
        "state": "in_effect" if in_effect else "pending",
        "accepted": sorted(pending.accepted),
        "awaiting": pending.awaiting(),
    }


def get_charter(ctx: Context) -> dict:
    ctx.reader()
    return ctx.charter().model_dump(mode="json")


def charter_history(ctx: Context) -> list[dict]:
    """Every committed version of the charter, newest first, with tx id and timestamp (which
    charter a past decision was taken under)."""
    ctx.reader()
    return ctx.history(keys.CHARTER)


def list_members(ctx: Context) -> list[Member]:
    """Every member ever admitted, active and removed, by org name."""
    ctx.reader()
    return list(ctx.scan_records(keys.members_range(), Member))


# --- proposals ---------------------------------------------------------------------------------


def propose_member(ctx: Context, request_json: str) -> Proposal:
    """Propose that an org join, be removed, or get new roles; the proposal is its yes vote."""
    caller = ctx.writer("propose membership changes")
    request = parse_request(ProposalRequest, request_json, "proposal")
    try:
        check_org_name(request.org)
    except CharterError as exc:
        raise InvalidArgument(str(exc)) from exc
    charter = ctx.charter()
    if request.action == "set_query_servers":
        msp_id, roles = None, None
        check_query_servers_proposal(charter, request)
    else:
        msp_id, roles = _check_proposal(ctx, charter, request)
        if request.servers is not None:
            raise InvalidArgument("servers apply to 'set_query_servers' only")
    _no_pending_proposal_for(ctx, request.org)
    proposal = Proposal(
        id="prop-" + ctx.tx_id[:16],
        action=request.action,
        org=request.org,
        msp_id=msp_id,
        roles=roles,
        servers=list(request.servers) if request.servers is not None else None,
        reason=request.reason,
        proposer=caller.org,
        votes={caller.org: Vote(vote="yes", tx_id=ctx.tx_id, at=ctx.now)},
        state=ProposalState.PENDING,
        created_at=ctx.now,
        expires_at=ctx.now + charter.proposal_ttl_seconds,
    )
    if ctx.get_bytes(keys.proposal(proposal.id)) is not None:
        raise Conflict(f"proposal {proposal.id} already exists; resubmit with a new transaction")
    return _decide(ctx, proposal, created=True)


def _check_proposal(
    ctx: Context, charter: Charter, request: ProposalRequest
) -> tuple[str | None, list[str] | None]:
    """Validate the action against the ledger; return the msp_id and roles to record."""
    existing = ctx.member(request.org)
    active = existing is not None and existing.status == MemberStatus.ACTIVE
    if request.action == "join":
        if active:
            raise Conflict(f"{request.org} is already an active member; nothing to join")
        msp_id = request.msp_id or msp_id_for(request.org)
        for other in ctx.scan_records(keys.members_range(), Member):
            if other.msp_id == msp_id and other.org != request.org:
                raise Conflict(f"MSP id {msp_id} already belongs to {other.org}; pick another")
        return msp_id, list(request.roles or ("member",))
    if not active:
        raise NotFound(f"{request.org} is not an active member; only active members can be "
                       f"{'removed' if request.action == 'remove' else 'given roles'}")
    if request.msp_id is not None:
        raise InvalidArgument(f"msp_id applies to 'join' only, not to {request.action!r}")
    members = dict(charter.members)
    if request.action == "remove":
        if request.roles is not None:
            raise InvalidArgument("roles apply to 'join' and 'set_roles', not to 'remove'")
        del members[request.org]
        roles = None
    else:
        if not request.roles:
            raise InvalidArgument("set_roles needs a non-empty 'roles' list (member, auditor)")
        roles = sorted(set(request.roles))
        members[request.org] = MemberEntry(msp_id=members[request.org].msp_id, roles=tuple(roles))
        if request.org in charter.query_servers and "member" not in roles:
            raise Conflict(
                f"{request.org} runs a query server; vote other servers with "
                "set_query_servers before it stops being a voting member"
            )
    if not any("member" in entry.roles for entry in members.values()):
        raise Conflict(
            f"{request.action} {request.org} would leave the alliance with no voting member"
        )
    return None, roles


def _no_pending_proposal_for(ctx: Context, org: str) -> None:
    pending_range = keys.proposals_by_state_range(ProposalState.PENDING)
    for (_state, proposal_id) in ctx.scan_index(pending_range):
        pending = ctx.get_record(keys.proposal(proposal_id), Proposal)
        if pending is not None and pending.org == org and ctx.now < pending.expires_at:
            raise Conflict(
                f"proposal {pending.id} about {org} is still open (until {pending.expires_at}); "
                "vote on it instead of proposing again"
            )


def vote_proposal(ctx: Context, proposal_id: str, vote: str) -> Proposal:
    """Vote yes or no on a pending proposal, once per voting member."""
    caller = ctx.writer("vote on proposals")
    if vote not in ("yes", "no"):
        raise InvalidArgument(f"vote must be 'yes' or 'no', not {vote!r}")
    proposal = _load(ctx, proposal_id)
    if proposal.state != ProposalState.PENDING:
        raise Conflict(f"proposal {proposal_id} is {proposal.state.value}; voting is closed")
    if ctx.now >= proposal.expires_at:
        raise Expired(
            f"proposal {proposal_id} expired at {proposal.expires_at}; close it with "
            "ExpireProposal and propose again"
        )
    if caller.org in proposal.votes:
        raise Conflict(
            f"{caller.org} already voted {proposal.votes[caller.org].vote!r} on {proposal_id}; "
            "each member votes once"
        )
    proposal.votes[caller.org] = Vote(vote=vote, tx_id=ctx.tx_id, at=ctx.now)  # type: ignore[arg-type]
    return _decide(ctx, proposal, created=False, voter=caller.org, vote=vote)


def expire_proposal(ctx: Context, proposal_id: str) -> Proposal:
    """Close a pending proposal whose time ran out."""
    ctx.writer("expire proposals", admin=False)
    proposal = _load(ctx, proposal_id)
    if proposal.state != ProposalState.PENDING:
        raise Conflict(f"proposal {proposal_id} is {proposal.state.value}, not PENDING")
    if ctx.now < proposal.expires_at:
        raise Conflict(
            f"proposal {proposal_id} is open until {proposal.expires_at}; not expired yet"
        )
    _set_state(ctx, proposal, ProposalState.EXPIRED)
    _save(ctx, proposal)
    ctx.emit("ProposalExpired", {"proposal_id": proposal.id, "org": proposal.org,
                                 "state": proposal.state.value})
    return proposal


def _decide(
    ctx: Context, proposal: Proposal, *, created: bool, voter: str = "", vote: str = ""
) -> Proposal:
    """Count the votes of the current voters; pass, reject, or keep open, and emit one event."""
    charter = ctx.charter()
    voters = set(charter.voters())
    yes = sum(1 for org, v in proposal.votes.items() if org in voters and v.vote == "yes")
    undecided = len(voters - set(proposal.votes))
    needed = charter.votes_needed()
    payload = {"proposal_id": proposal.id, "action": proposal.action, "org": proposal.org}
    if yes >= needed:
        _set_state(ctx, proposal, ProposalState.PASSED)
        _apply(ctx, charter, proposal)
        _save(ctx, proposal)
        ctx.emit(MEMBER_EVENTS[proposal.action], {**payload, "state": proposal.state.value})
    elif yes + undecided < needed:
        _set_state(ctx, proposal, ProposalState.REJECTED)
        _save(ctx, proposal)
        ctx.emit("ProposalRejected", {**payload, "state": proposal.state.value})
    else:
        if created:
            ctx.put_index(keys.proposal_by_state(ProposalState.PENDING, proposal.id))
        _save(ctx, proposal)
        if created:
            ctx.emit("MemberProposed", {**payload, "state": proposal.state.value,
                                        "proposer": proposal.proposer})
        else:
            ctx.emit("ProposalVoted", {**payload, "state": proposal.state.value, "voter": voter,
                                       "vote": vote})
    return proposal


def _apply(ctx: Context, charter: Charter, proposal: Proposal) -> None:
    """Change the charter and the member record as the passed proposal says."""
    if proposal.action == "set_query_servers":
        ctx.save_charter(with_query_servers(charter, tuple(proposal.servers or ())))
        return
    members = dict(charter.members)
    record = ctx.member(proposal.org)
    servers = charter.query_servers
    if proposal.action == "join":
        assert proposal.msp_id is not None and proposal.roles is not None
        members[proposal.org] = MemberEntry(msp_id=proposal.msp_id, roles=tuple(proposal.roles))
        record = Member(org=proposal.org, msp_id=proposal.msp_id, roles=proposal.roles,
                        joined_at=ctx.now, updated_tx=ctx.tx_id)
    elif proposal.action == "remove":
        assert record is not None
        members.pop(proposal.org, None)
        if proposal.org in servers:
            servers = ()  # a removed server ends the pair: the members vote a new one
        record = record.model_copy(update={"status": MemberStatus.REMOVED, "removed_at": ctx.now,
                                           "updated_tx": ctx.tx_id})
    else:
        assert record is not None and proposal.roles is not None
        members[proposal.org] = MemberEntry(msp_id=members[proposal.org].msp_id,
                                            roles=tuple(proposal.roles))
        record = record.model_copy(update={"roles": proposal.roles, "updated_tx": ctx.tx_id})
    try:
        updated = Charter.model_validate(
            {**charter.model_dump(), "members": members, "version": charter.version + 1,
             "query_servers": servers}
        )
    except (CharterError, ValueError) as exc:
        raise Conflict(f"proposal {proposal.id} cannot take effect: {exc}") from exc
    ctx.save_charter(updated)
    ctx.put_record(keys.member(proposal.org), record)


def _set_state(ctx: Context, proposal: Proposal, state: ProposalState) -> None:
    old_index = keys.proposal_by_state(proposal.state, proposal.id)
    if ctx.get_bytes(old_index) is not None:
        ctx.delete(old_index)
    proposal.state = state
    proposal.decided_at = ctx.now
    proposal.decided_tx = ctx.tx_id
    ctx.put_index(keys.proposal_by_state(state, proposal.id))


def _load(ctx: Context, proposal_id: str) -> Proposal:
    proposal = ctx.get_record(keys.proposal(proposal_id), Proposal)
    if proposal is None:
        raise NotFound(f"no proposal {proposal_id!r}; list them with ListProposals")
    return proposal


def _save(ctx: Context, proposal: Proposal) -> None:
    ctx.put_record(keys.proposal(proposal.id), proposal)


def get_proposal(ctx: Context, proposal_id: str) -> Proposal:
    ctx.reader()
    return _load(ctx, proposal_id)


def list_proposals(ctx: Context, state: str = "") -> list[Proposal]:
    """Every proposal, or those in one state (PENDING, PASSED, REJECTED, EXPIRED)."""
    ctx.reader()
    if not state:
        return list(ctx.scan_records(keys.proposals_range(), Proposal))
    if state not in ProposalState.__members__:
        known = ", ".join(ProposalState.__members__)
        raise InvalidArgument(f"unknown proposal state {state!r}; use one of {known}")
    found = []
    for (_state, proposal_id) in ctx.scan_index(keys.proposals_by_state_range(state)):
        found.append(_load(ctx, proposal_id))
    return found


# --- certificates ------------------------------------------------------------------------------


def revoke_certificate(
    ctx: Context, cert_fingerprint: str, options_json: str = ""
) -> RevokedCertificate:
    """Revoke one of the caller's own org's certificates, by its `sha256:` fingerprint; at once,
    or (a rotation) after `grace_seconds`, naming the certificate that replaces it and an X.509
    reason."""
    caller = ctx.writer("revoke certificates")
    options = parse_request(RevocationOptions, options_json or "{}", "revocation options")
    for name, value in (("certificate", cert_fingerprint), ("replacement", options.replaced_by)):
        if value is not None and not is_digest(value):
            raise InvalidArgument(
                f"{value!r} is not a {name} fingerprint: expected 'sha256:<64 hex>' "
                "(the sha256 of the DER certificate)"
            )
    if options.replaced_by == cert_fingerprint:
        raise InvalidArgument("a certificate cannot replace itself")
    key = keys.revoked_cert(caller.org, cert_fingerprint)
    if ctx.get_bytes(key) is not None:
        raise Conflict(f"certificate {cert_fingerprint} of {caller.org} is already revoked")
    record = RevokedCertificate(
        fingerprint=cert_fingerprint,
        org=caller.org,
        tx_id=ctx.tx_id,
        at=ctx.now,
        effective_at=ctx.now + options.grace_seconds if options.grace_seconds else None,
        reason=options.reason,
        replaced_by=options.replaced_by,
    )
    ctx.put_record(key, record)
    ctx.emit("CertificateRevoked", {"fingerprint": cert_fingerprint, "org": caller.org,
                                    "state": "revoked"})
    return record


def list_revoked_certificates(ctx: Context) -> list[RevokedCertificate]:
    ctx.reader()
    return list(ctx.scan_records(keys.revoked_certs_range(), RevokedCertificate))
