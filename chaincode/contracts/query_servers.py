"""The charter's query servers: the `set_query_servers` proposal (checked when proposed, applied
when passed by the usual membership vote). The two servers' non-collusion is the multi-lender
service's trust assumption, so no single member names them."""

from __future__ import annotations

from alliance.charter import Charter, query_server_problem
from alliance.models import ProposalRequest
from chaincode.errors import Conflict, InvalidArgument


def check_query_servers_proposal(charter: Charter, request: ProposalRequest) -> None:
    """A set_query_servers proposal names two distinct voting members (A then B, `org` = A), or
    none (`servers` empty: the service ends); not the pair already in the charter."""
    if request.msp_id is not None or request.roles is not None:
        raise InvalidArgument("set_query_servers takes `servers`, not msp_id or roles")
    servers = tuple(request.servers or ())
    if request.servers is None:
        raise InvalidArgument(
            "set_query_servers needs `servers`: the two members that run the query servers, "
            "A then B (an empty list ends the service)")
    problem = query_server_problem(servers, charter.voters())
    if problem:
        raise InvalidArgument(problem)
    if servers and request.org != servers[0]:
        raise InvalidArgument(
            f"a set_query_servers proposal is about server A: its org must be {servers[0]}")
    if servers == charter.query_servers:
        raise Conflict(f"the charter already names {', '.join(servers) or 'no'} query servers")


def with_query_servers(charter: Charter, servers: tuple[str, ...]) -> Charter:
    """The charter's next version naming `servers`."""
    return Charter.model_validate(
        {**charter.model_dump(), "query_servers": servers, "version": charter.version + 1})
