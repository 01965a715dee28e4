"""The channel's Readers and Writers policies, as `alliance network up --engine fabric` writes them
into configtx.yaml, and the resources Fabric's default ACLs guard with them. Pure.

A member or auditor org's Readers are its `admin`, `peer` and `client` identities, its Writers
its `admin` and `client` identities (NodeOUs); the orderer org's Readers and Writers are any of
its identities. Fabric's defaults (`core/aclmgmt/defaultaclprovider.go`) then guard:

- `peer/Propose` (Evaluate and Endorse of a user chaincode) with the channel's Writers;
- `qscc/*` (Evaluate of the query system chaincode) with Readers;
- `gateway/CommitStatus`, `gateway/ChaincodeEvents`, `event/Block`, `event/FilteredBlock`
  (Deliver) with Readers;
- Broadcast (Submit, at the orderer's SigFilter) with the channel's Writers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Policy = Literal["Readers", "Writers"]

APPLICATION_ROLES: dict[Policy, frozenset[str]] = {
    "Readers": frozenset({"admin", "peer", "client"}),
    "Writers": frozenset({"admin", "client"}),
}

PROPOSE: Policy = "Writers"
QSCC: Policy = "Readers"
COMMIT_STATUS: Policy = "Readers"
CHAINCODE_EVENTS: Policy = "Readers"
DELIVER: Policy = "Readers"
BROADCAST: Policy = "Writers"


class PolicyNotSatisfied(Exception):
    """The identity is not one the policy names; the text says which policy and why."""


@dataclass(frozen=True)
class ChannelAcl:
    channel_id: str
    orderer_msps: frozenset[str] = frozenset()

    def allows(self, policy: Policy, msp_id: str, role: str) -> bool:
        if msp_id in self.orderer_msps:
            return True
        return role in APPLICATION_ROLES[policy]

    def check(self, policy: Policy, msp_id: str, role: str) -> None:
        """Raise PolicyNotSatisfied unless an identity of `msp_id` with NodeOU `role` may act."""
        if self.allows(policy, msp_id, role):
            return
        allowed = " or ".join(sorted(APPLICATION_ROLES[policy]))
        raise PolicyNotSatisfied(
            f"failed evaluating policy on signed data during check policy "
            f"[/Channel/Application/{policy}]: [implicit policy evaluation failed - 0 "
            f"sub-policies were satisfied, but this policy requires 1 of the '{policy}' "
            f"sub-policies to be satisfied]: a {role} certificate of {msp_id} is not one of the "
            f"channel's {policy} ({allowed} of a member org); sign with the org's client or "
            "admin identity"
        )
