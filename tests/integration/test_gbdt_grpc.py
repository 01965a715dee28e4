"""The gbdt protocols over the real gRPC transport with mutual TLS (bank, telecom, platform): the
trees equal the plaintext reference's, the scores its scores, and a party that dies on its Nth
histogram (its links close without an abort, as a killed process's do) fails the job for every
other party with no model."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from node.errors import NodeError
from node.mpc import JobContext, MpcProtocol, ProtocolResult, execute
from node.mpc.modelling.features import MODEL_KEY
from node.mpc.modelling.gbdt import GbdtPredictProtocol, GbdtTrainProtocol
from node.mpc.modelling.gbdt.params import GbdtTrainParams
from node.mpc.modelling.gbdt.train_protocol import STEP_HIST
from tests.integration.test_mpc_grpc import Cluster
from tests.unit.gbdt_helpers import clear_fit, joined_trees, party_bins
from tests.unit.modelling_helpers import LABEL, job_for, synthetic

PARTIES = ("bank", "platform", "telecom")
PARAMS = {"n_trees": "4", "max_depth": "3", "max_bin": "8", "subsample": "0.8"}


@pytest.fixture
async def cluster(network_dir: Path, passphrase: bytes) -> AsyncIterator[Cluster]:
    cluster = Cluster(network_dir, passphrase, {"gb": PARTIES, "gp": PARTIES, "gk": PARTIES})
    await cluster.start()
    yield cluster
    await cluster.stop()


class Dies(Exception):
    """The party's process is gone."""


class DieOnNthHistogram:
    """A transport whose party dies (no abort sent) when about to send its Nth histogram."""

    def __init__(self, inner: Any, n: int) -> None:
        self.inner, self.n, self.sent = inner, n, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def send_array(self, to: str, step: str, tag: str, array: np.ndarray) -> None:
        if step == STEP_HIST:
            self.sent += 1
            if self.sent == self.n:
                raise Dies()
        await self.inner.send_array(to, step, tag, array)


async def vanish(transport: Any) -> None:
    """End a transport as a killed process does: streams cut, no goodbye and no abort frame
    (GrpcTransport.close without its farewell)."""
    transport._closing = transport._tearing_down = True
    for task in list(transport._tasks):
        task.cancel()
    for call in transport._calls:
        call.cancel()
    for channel in transport._channels:
        await channel.close()


async def run(cluster: Cluster, protocol: MpcProtocol, job: JobContext, inputs: dict,
              dies: str = "", at: int = 0) -> dict[str, ProtocolResult | BaseException]:
    async def one(org: str) -> ProtocolResult:
        if org == dies:
            transport = await cluster.transport(job.job_id, org, job.participants).start()
            try:
                return await protocol.run(job, inputs.get(org, {}),
                                          DieOnNthHistogram(transport, at))
            finally:
                await vanish(transport)
        async with cluster.transport(job.job_id, org, job.participants,
                                     step_timeout=60.0) as transport:
            return await execute(protocol, job, inputs.get(org, {}), transport)

    results = await asyncio.gather(*(one(org) for org in job.participants),
                                   return_exceptions=True)
    return dict(zip(job.participants, results, strict=True))


def three_parties() -> dict:
    inputs = synthetic(800, 2, 2, seed=13)
    inputs["platform"] = {"platform/b:r0": inputs["telecom"].pop("telecom/subs:t1")}
    return inputs


async def test_gbdt_over_mutual_tls_grows_the_reference_trees_and_scores(cluster: Cluster
                                                                        ) -> None:
    inputs = three_parties()
    job = job_for("gbdt_train", inputs, {"label": LABEL, **PARAMS},
                  {f"model.{p}": (p,) for p in PARTIES}, dealer=None, job_id="gb")
    results = await run(cluster, GbdtTrainProtocol(), job, inputs)
    fit = clear_fit(inputs, PARAMS)
    assert [t.splits for t in joined_trees(results)] == [t.splits for t in fit.trees]
    models = {p: {**inputs[p], MODEL_KEY: np.frombuffer(
        results[p].outputs[f"model.{p}"], dtype=np.uint8)} for p in PARTIES}  # type: ignore[union-attr]
    predict = job_for("gbdt_predict", inputs, {"holder": "bank", "label": LABEL},
                      {"scores": ("platform",)}, dealer=None, job_id="gp")
    scored = await run(cluster, GbdtPredictProtocol(), predict, models)
    scores = np.load(io.BytesIO(scored["platform"].outputs["scores"]))  # type: ignore[union-attr]
    bins = dict(party_bins(inputs, GbdtTrainParams(label=LABEL, **PARAMS)))
    assert np.abs(scores - fit.scores(bins)).max() < 1e-12
    assert scored["bank"].outputs == {} and scored["telecom"].outputs == {}  # type: ignore[union-attr]


async def test_a_party_dying_mid_training_fails_every_party_with_no_model(cluster: Cluster
                                                                         ) -> None:
    inputs = three_parties()
    job = job_for("gbdt_train", inputs, {"label": LABEL, **PARAMS},
                  {f"model.{p}": (p,) for p in PARTIES}, dealer=None, job_id="gk")
    outcomes = await run(cluster, GbdtTrainProtocol(), job, inputs, dies="platform", at=5)
    assert isinstance(outcomes["platform"], Dies)
    for org in ("bank", "telecom"):
        assert isinstance(outcomes[org], NodeError), outcomes[org]
