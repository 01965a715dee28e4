"""A ledger (the real contract on the dict-backed stub) with a chain of modelling jobs: a psi
alignment, binning, lr_train between bank and telecom (platform deals)."""

from __future__ import annotations

import json
from typing import Any

from contract_helpers import Alliance, founded

IDS = "bank/loans:id,telecom/subs:id"
DATA = ["bank/loans:id", "bank/loans:bad", "bank/loans:x", "telecom/subs:id", "telecom/subs:t"]
LABEL = "bank/loans:bad"


def ledger() -> Alliance:
    a = founded()
    a.register("bank", "loans", columns=("id", "bad", "x"))
    a.register("telecom", "subs", columns=("id", "t"))
    return a


def body(protocol: str, inputs: list[str], outputs: dict[str, list[str]],
         parameters: dict[str, str], dealer: str | None = None) -> str:
    return json.dumps({"protocol": protocol, "inputs": inputs, "parameters": parameters,
                       "outputs": outputs, "dealer": dealer, "expires_in_seconds": 3600,
                       "max_runs": 1})


def complete(a: Alliance, job: dict[str, Any]) -> dict[str, Any]:
    """Approve (every approver), claim and receipt `job` with agreeing digests: COMPLETED."""
    for org in job["required_approvers"]:
        job = a.ok("ApproveJob", job["id"], by=org)
    for org in job["participants"]:
        a.ok("ClaimJob", job["id"], by=a.org(org).client)
    for org in job["participants"]:
        job = a.ok("SubmitReceipt", job["id"], a.receipt(job, org), by=a.org(org).client)
    assert job["state"] == "COMPLETED", job["state"]
    return job


def psi(a: Alliance, to: list[str], *, done: bool = True) -> dict[str, Any]:
    job = a.ok("RequestJob", body("psi", ["bank/loans:id", "telecom/subs:id"],
                                  {"intersection": to}, {}), by="bank")
    return complete(a, job) if done else job


def binning_body(alignment: str, **params: str) -> str:
    return body("binning", DATA,
                {"bins.bank": ["bank"], "bins.telecom": ["telecom"], "iv": ["bank"]},
                {"label": LABEL, "ids": IDS, "alignment_job": alignment, **params},
                dealer="platform")


def train_body(alignment: str, **params: str) -> str:
    return body("lr_train", DATA, {"model.bank": ["bank"], "model.telecom": ["telecom"]},
                {"label": LABEL, "ids": IDS, "alignment_job": alignment, **params},
                dealer="platform")


def predict_body(alignment: str, model: str, **params: str) -> str:
    return body("lr_predict", DATA, {"scores": ["bank"], "evaluation": ["bank"]},
                {"label": LABEL, "holder": "bank", "ids": IDS, "alignment_job": alignment,
                 "model_job": model, **params})


def scorecard_body(model: str, bins: str, parties: tuple[str, ...] = ("bank", "telecom")) -> str:
    columns = {"bank": "bank/loans:x", "telecom": "telecom/subs:t"}
    return body("scorecard", [columns[p] for p in parties],
                {f"scorecard.{p}": [p] for p in parties},
                {"model_job": model, "bins_job": bins})


def chain(a: Alliance) -> dict[str, dict[str, Any]]:
    """Completed psi -> binning -> lr_train (on the binning's WOE bins)."""
    aligned = psi(a, ["bank", "telecom"])
    bins = complete(a, a.ok("RequestJob", binning_body(aligned["id"]), by="bank"))
    model = complete(a, a.ok("RequestJob", train_body(aligned["id"], bins_job=bins["id"]),
                             by="bank"))
    return {"psi": aligned, "binning": bins, "lr_train": model}
