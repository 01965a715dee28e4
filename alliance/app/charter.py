"""The founding charter on the ledger: put NET's charter.json there once, and notice when the
ledger holds another."""

from __future__ import annotations

from pathlib import Path


def ensure_charter(target: Path) -> bool:
    """Put charter.json on the ledger unless it is there already; True if this call did it.

    A founding charter already on the ledger must be the one in NET: any founding admin may
    submit InitCharter, so a different one means somebody got there first with their own."""
    from alliance.canonical import loads
    from alliance.charter import Charter
    from alliance.errors import CharterError
    from alliance.founding import load_signed_charter
    from network.connection import connect_member
    from network.errors import ContractRejected

    charter = Charter.load(target / "charter.json")
    with connect_member(target, charter.voters()[0]) as conn:
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
                    "another founding admin initialised it with their own; do not use this "
                    "network until the members agree which charter is theirs"
                )
            return False
        signed = load_signed_charter(target)
        conn.contract.submit_transaction("InitCharter", signed.to_json().decode())
    return True
