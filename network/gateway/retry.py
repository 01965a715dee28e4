"""Re-endorse a transaction whose endorsements did not match, with a fresh proposal.

On a loaded Fabric network one endorsing peer can be a block behind another: the two simulate
against different committed states, and the gateway refuses with ABORTED "failed to collect
enough transaction endorsements" and a detail "ProposalResponsePayloads do not match". Nothing
was ordered, so the same call made again a moment later (a new proposal, a new transaction id)
normally succeeds once the slow peer has caught up. A contract's refusal is an answer, never
retried; nor is any other failure.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from network.errors import ContractRejected, EndorseError

if TYPE_CHECKING:
    from network.gateway.proposal import Proposal
    from network.gateway.transaction import Transaction

log = logging.getLogger("network.gateway")

MISMATCH = "ProposalResponsePayloads do not match"
BACKOFF_SECONDS: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0)
"""Waits before the 2nd, 3rd, ... attempt: five attempts over about four seconds in all."""


def endorsements_mismatched(exc: EndorseError) -> bool:
    """Did the endorsing peers simulate the proposal differently (and nothing else go wrong)?"""
    if isinstance(exc, ContractRejected):
        return False
    texts = [str(exc), *(d.message for d in exc.details)]
    return any(MISMATCH in text for text in texts)


def endorse_fresh(
    new_proposal: Callable[[], Proposal],
    *,
    backoff: Sequence[float] = BACKOFF_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[Proposal, Transaction]:
    """Endorse `new_proposal()`; on mismatched endorsements, wait and endorse a new one."""
    for attempt in range(len(backoff) + 1):
        proposal = new_proposal()
        try:
            return proposal, proposal.endorse()
        except EndorseError as exc:
            if attempt == len(backoff) or not endorsements_mismatched(exc):
                raise
            log.warning(
                "transaction %s: the endorsing peers' results differ (%s; one peer is probably "
                "a block behind); retrying with a new proposal in %.2f s (attempt %d of %d)",
                proposal.tx_id,
                MISMATCH,
                backoff[attempt],
                attempt + 2,
                len(backoff) + 1,
            )
            sleep(backoff[attempt])
    raise AssertionError("unreachable")
