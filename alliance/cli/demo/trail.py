"""The auditor's trail of a job: each committed version of the job, what changed and who did it.

JobHistory gives every version (tx id, timestamp, record); comparing a version with the one
before tells the action and the org that signed it (the contract records approvals, claims,
receipts, rejections and failures by org, receipts also by certificate fingerprint). The block
of each transaction comes from the Gateway's commit status. Pure apart from the two queries.
"""

from __future__ import annotations

from typing import Any


def describe_change(before: dict[str, Any] | None, after: dict[str, Any]) -> tuple[str, str]:
    """(action, signer) that turned `before` into `after`. Pure."""
    if before is None:
        return "RequestJob", after["requester"]
    new = sorted(set(after.get("approvals", {})) - set(before.get("approvals", {})))
    if new:
        return "ApproveJob", ", ".join(new)
    if after.get("rejection") and not before.get("rejection"):
        return "RejectJob", after["rejection"]["org"]
    if after.get("revocation") and not before.get("revocation"):
        return "RevokeJob", after["revocation"]["org"]
    run = str(after.get("current_run", 0))
    old_receipts = before.get("receipts", {}).get(run, {})
    receipts = after.get("receipts", {}).get(run, {})
    new = sorted(set(receipts) - set(old_receipts))
    if new:
        org = new[0]
        return "SubmitReceipt", f"{org} ({receipts[org]['signer'][7:15]})"
    old_claims = before.get("claims", {}) if before.get("current_run") == after.get(
        "current_run") else {}
    new = sorted(set(after.get("claims", {})) - set(old_claims))
    if new:
        return "ClaimJob", ", ".join(new)
    new = sorted(set(after.get("failures", {})) - set(before.get("failures", {})))
    if new:
        return "FailJob", ", ".join(new)
    if after.get("state") == "EXPIRED":
        return "ExpireJob", ""
    return "update", ""


def job_trail(contract: Any, job_id: str) -> list[dict[str, Any]]:
    """Oldest first: {tx_id, timestamp, state, action, signer, block}."""
    import json

    from network.gateway import Commit

    history = json.loads(contract.evaluate_transaction("JobHistory", job_id))
    rows: list[dict[str, Any]] = []
    before: dict[str, Any] | None = None
    gateway = contract.network.gateway
    for entry in reversed(history):
        after = entry.get("value") or {}
        action, signer = describe_change(before, after)
        try:
            block: int | None = Commit(gateway, contract.network.name, entry["tx_id"]).status(
                5.0).block_number
        except Exception:  # the block is extra information; the trail stands without it
            block = None
        rows.append({
            "tx_id": entry["tx_id"], "timestamp": entry["timestamp"], "state": after.get("state"),
            "action": action, "signer": signer, "block": block,
        })
        before = after
    return rows
