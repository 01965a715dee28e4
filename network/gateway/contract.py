"""A chaincode (and optionally one named contract inside it) on a network."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from network.gateway.proposal import Proposal
from network.gateway.retry import endorse_fresh
from network.protoutil import create_proposal

if TYPE_CHECKING:
    from network.gateway.network import Network

Arg = str | bytes


def _as_bytes(arg: Arg) -> bytes:
    return arg.encode() if isinstance(arg, str) else bytes(arg)


class Contract:
    def __init__(self, network: Network, chaincode: str, contract_name: str = "") -> None:
        self.network = network
        self.chaincode = chaincode
        self.contract_name = contract_name

    def _qualified(self, name: str) -> str:
        return f"{self.contract_name}:{name}" if self.contract_name else name

    def new_proposal(
        self,
        name: str,
        args: Sequence[Arg] = (),
        *,
        transient: Mapping[str, bytes] | None = None,
        endorsing_organizations: Sequence[str] = (),
    ) -> Proposal:
        """A signed proposal to run `name(*args)`; evaluate it, or endorse and submit it."""
        gw = self.network.gateway
        proposal, tx_id = create_proposal(
            self.network.name,
            self.chaincode,
            self._qualified(name),
            [_as_bytes(a) for a in args],
            gw.creator,
            transient=transient,
        )
        return Proposal(
            gw, self.network.name, tx_id, proposal.SerializeToString(), endorsing_organizations
        )

    def evaluate_transaction(self, name: str, *args: Arg) -> bytes:
        """Run a query on one peer and return its result; nothing is ordered or written.

        Raises ContractRejected when the contract refuses, EvaluateError/Unavailable otherwise."""
        return self.new_proposal(name, args).evaluate()

    def submit_transaction(self, name: str, *args: Arg) -> bytes:
        """Endorse, submit and wait for the commit; return the contract's result.

        Endorsements that do not match (a peer a block behind) are retried with a fresh proposal
        (network.gateway.retry). Raises ContractRejected (refused by the contract), EndorseError,
        SubmitError, CommitStatusError, or CommitError when it committed as invalid (e.g.
        MVCC_READ_CONFLICT)."""
        _, transaction = endorse_fresh(lambda: self.new_proposal(name, args))
        transaction.submit().require_success()
        return transaction.result
