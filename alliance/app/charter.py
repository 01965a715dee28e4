"""The founding charter on the ledger: submit NET's charter.json once, have every founding org
accept it by its own transaction (it takes effect only then), and notice when the ledger holds
another."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class CharterProgress:
    """Where the founding charter stands after `ensure_charter` or `accept_charter`."""

    charter_hash: str
    changed: bool
    """Whether this call wrote to the ledger."""
    awaiting: list[str] = field(default_factory=list)
    """Founding orgs whose acceptance is still missing (their admin key is not in NET)."""

    @property
    def in_effect(self) -> bool:
        return not self.awaiting

    def next_step(self) -> str:
        """What to do when founders are still awaited (empty when the charter is in effect)."""
        if self.in_effect:
            return ""
        return (
            f"the founding charter {self.charter_hash} awaits acceptance by "
            f"{', '.join(self.awaiting)}; nothing works on the ledger until then: on each of their "
            "machines run `alliance --as ORG network accept-charter --dir NET`"
        )


def ensure_charter(target: Path) -> CharterProgress:
    """Put NET's founding charter in effect unless it is already: submit it (InitCharter) as the
    founding admin of the first voting member whose key NET holds, then every other founder's
    acceptance (AcceptCharter) whose admin key NET holds (all of them on a single machine).

    A founding charter already in effect must be the one in NET: a different one means another
    charter was founded first; do not use the network until the members agree."""
    from alliance.canonical import loads, sha256_digest
    from alliance.charter import Charter
    from alliance.errors import CharterError
    from alliance.founding import load_signed_charter
    from alliance.wallet import has_key
    from network.connection import connect_member
    from network.errors import ContractRejected

    charter = Charter.load(target / "charter.json")
    signed = load_signed_charter(target)
    charter_hash = sha256_digest(charter.to_json())
    here = [org for org in sorted(charter.founders) if has_key(target, org, "admin")]
    submitter = next((org for org in charter.voters() if org in here), None)
    if submitter is None:
        raise CharterError(
            f"NET ({target}) holds the admin key of no founding voting member: submit the "
            "founding charter with `alliance network up` on a founding member's machine"
        )
    with connect_member(target, submitter) as conn:
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
                    "another charter was founded first; do not use this network until the "
                    "members agree which charter is theirs"
                )
            return CharterProgress(charter_hash, changed=False)
        status = _submitted(conn, "InitCharter", signed.to_json().decode())
    awaiting = []
    for org in status["awaiting"]:
        if org not in here:
            awaiting.append(org)
            continue
        with connect_member(target, org) as conn:
            status = _submitted(conn, "AcceptCharter", charter_hash)
    return CharterProgress(charter_hash, changed=True, awaiting=awaiting)


def accept_charter(target: Path, org: str) -> CharterProgress:
    """`org`'s founding admin accepts NET's founding charter (by its hash) on the ledger."""
    from alliance.canonical import sha256_digest
    from alliance.charter import Charter
    from network.connection import connect_member

    charter = Charter.load(target / "charter.json")
    charter_hash = sha256_digest(charter.to_json())
    with connect_member(target, org) as conn:
        status = _submitted(conn, "AcceptCharter", charter_hash)
    return CharterProgress(charter_hash, changed=True, awaiting=list(status["awaiting"]))


def _submitted(conn: Any, function: str, argument: str) -> dict[str, Any]:
    from alliance.canonical import loads

    result = loads(conn.contract.submit_transaction(function, argument))
    return result if isinstance(result, dict) else {"awaiting": []}
