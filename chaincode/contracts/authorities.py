"""An org's certificate authorities on the ledger: a renewal (new signing and TLS roots, both
trusted with the old ones for an overlap), the overlap's end, and the list.

Only the org's own admin renews its CA, signing with a certificate of the old or the new CA.
From the first renewal on, every transaction of the org is checked against these roots
(`Context._check_issuer_in_force`), and every node checks MPC link certificates against the TLS
roots (`node.peer_auth`).
"""

from __future__ import annotations

from alliance.authorities import (
    CaRenewal,
    OrgAuthorities,
    issued_by,
    overlap_end,
    overlap_ended,
    renewed_roots,
)
from alliance.errors import IdentityError
from chaincode import keys
from chaincode.context import Context, parse_request
from chaincode.errors import Conflict, InvalidArgument, NotAuthorized


def renew_certificate_authority(ctx: Context, renewal_json: str) -> OrgAuthorities:
    """Record the caller's org's new CA and TLS CA roots; the roots in force now stay trusted
    for `overlap_seconds`, then retire."""
    caller = ctx.writer("renew the org's certificate authorities")
    renewal = parse_request(CaRenewal, renewal_json, "CA renewal")
    current = ctx.get_record(keys.ca_roots(caller.org), OrgAuthorities)
    try:
        record = renewed_roots(current, renewal, caller.org, ctx.now, ctx.tx_id)
    except IdentityError as exc:
        raise InvalidArgument(f"cannot renew {caller.org}'s CA: {exc}") from exc
    creator = ctx.creator_identity().cert
    if not (issued_by(creator, renewal.previous_ca) or issued_by(creator, renewal.ca)):
        raise NotAuthorized(
            f"the renewal must be signed by an admin certificate of {caller.org}'s previous or "
            "new CA"
        )
    ctx.put_record(keys.ca_roots(caller.org), record)
    ctx.emit("CertificateAuthorityRenewed", {"org": caller.org,
                                             "overlap_ends": ctx.now + renewal.overlap_seconds})
    return record


def end_ca_overlap(ctx: Context) -> OrgAuthorities:
    """End the caller's org's overlap now: its old roots are retired from this transaction on."""
    caller = ctx.writer("end the CA overlap")
    current = ctx.get_record(keys.ca_roots(caller.org), OrgAuthorities)
    if current is None or overlap_end(current, ctx.now) is None:
        raise Conflict(f"{caller.org} has no CA overlap running; see `alliance keys renew-ca`")
    record = overlap_ended(current, ctx.now, ctx.tx_id)
    ctx.put_record(keys.ca_roots(caller.org), record)
    ctx.emit("CertificateAuthorityRenewed", {"org": caller.org, "overlap_ends": ctx.now})
    return record


def list_certificate_authorities(ctx: Context) -> list[OrgAuthorities]:
    """The recorded CA roots of every org that renewed its CA."""
    ctx.reader()
    return list(ctx.scan_records(keys.ca_roots_range(), OrgAuthorities))
