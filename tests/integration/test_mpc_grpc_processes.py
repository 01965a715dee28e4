"""The gRPC transport across real processes: each party its own process, server and TLS identity."""

from __future__ import annotations

import functools
import os
import signal
from pathlib import Path
from typing import Any

import numpy as np

from alliance.canonical import loads
from node.mpc import InputRef, JobContext, ProtocolResult, StatsProtocol
from node.mpc.grpc_party import PartySpec, run_parties
from node.mpc.protocol import LocalInputs
from node.mpc.transport import Transport

PARTIES = ("bank", "platform", "telecom")


def column(org: str) -> np.ndarray:
    return np.arange(1000, dtype=np.float64) * (len(org) + 0.25)


def inputs_of(org: str) -> LocalInputs:
    return {f"{org}/d:x": column(org)}


class _DiesWhenOpening:
    """A transport wrapper that kills its own process when the protocol opens its share."""

    def __init__(self, inner: Transport) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def send_array(self, to: str, step: str, tag: str, array: np.ndarray) -> None:
        os.kill(os.getpid(), signal.SIGKILL)


class DyingStats(StatsProtocol):
    """`stats`, but the party running it dies mid-protocol (after sharing, before opening)."""

    async def run(self, job: JobContext, local_inputs: LocalInputs, transport: Transport
                  ) -> ProtocolResult:
        return await super().run(job, local_inputs, _DiesWhenOpening(transport))  # type: ignore[arg-type]


def specs(network_dir: Path, passphrase: bytes, op: str, victim: str | None = None
          ) -> list[PartySpec]:
    job = JobContext("job-p", "stats", {"op": op}, tuple(InputRef(p, "d", "x") for p in PARTIES),
                     {"result": ("bank",)}, PARTIES)
    return [
        PartySpec(str(network_dir), org, passphrase, job, functools.partial(inputs_of, org),
                  protocol=DyingStats() if org == victim else "stats", step_timeout=60.0)
        for org in PARTIES
    ]


def test_three_processes_compute_a_sum(network_dir: Path, passphrase: bytes) -> None:
    outcomes = run_parties(specs(network_dir, passphrase, "sum"), timeout=60)
    assert all(o["ok"] for o in outcomes.values()), outcomes
    value = loads(outcomes["bank"]["outputs"]["result"])["value"]
    assert float(value) == sum(column(org).sum() for org in PARTIES)
    assert outcomes["platform"]["outputs"] == {} and outcomes["telecom"]["outputs"] == {}


def test_a_killed_party_aborts_the_others(network_dir: Path, passphrase: bytes) -> None:
    outcomes = run_parties(specs(network_dir, passphrase, "sum", victim="telecom"), timeout=60)
    assert outcomes["telecom"]["error"] == "died"
    for org in ("bank", "platform"):
        outcome = outcomes[org]
        assert not outcome["ok"], outcome
        assert outcome["error"] == "ProtocolAborted", outcome  # not a timeout: the loss is seen
        # telecom's loss, seen directly or relayed by bank's abort (bank may also exit first)
        assert "lost connection to" in outcome["reason"], outcome
        assert "outputs" not in outcome
