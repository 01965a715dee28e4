"""What one transaction did to a job: the action and the org(s), from two versions of the record.

JobHistory gives every committed version of a job; comparing a version with the one before tells
the action (approval, claim, receipt, ...) and the org the contract recorded for it. Pure.
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
    old_claims = (
        before.get("claims", {}) if before.get("current_run") == after.get("current_run") else {}
    )
    new = sorted(set(after.get("claims", {})) - set(old_claims))
    if new:
        return "ClaimJob", ", ".join(new)
    new = sorted(set(after.get("failures", {})) - set(before.get("failures", {})))
    if new:
        reasons = [after["failures"][org].get("reason", "") for org in new]
        if all(str(r).startswith("deadline passed") for r in reasons):
            return "ExpireRun", ", ".join(new)
        return "FailJob", ", ".join(new)
    if after.get("state") == "EXPIRED":
        return "ExpireJob", ""
    return "update", ""
