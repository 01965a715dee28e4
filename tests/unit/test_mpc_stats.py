"""Secure statistics over the in-memory transport, checked against numpy in the clear."""

from __future__ import annotations

import asyncio
import io

import numpy as np
import pytest

from alliance.canonical import loads
from node.errors import ProtocolAborted
from node.mpc import InputRef, JobContext, MemoryNetwork, ProtocolResult, StatsProtocol, execute

THREE = ("bank", "platform", "telecom")
TOLERANCE = 1e-3


def job_for(
    params: dict[str, str], parties: tuple[str, ...], recipients: tuple[str, ...] = ("bank",),
    inputs: tuple[str, ...] | None = None,
) -> JobContext:
    refs = tuple(InputRef.parse(text) for text in (inputs or [f"{p}/d:x" for p in parties]))
    return JobContext("job-1", "stats", params, refs, {"result": recipients}, parties)


def columns(parties: tuple[str, ...], rows: int = 500) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    return {p: np.round(rng.normal(50.0, 40.0, rows), 2) for p in parties}


async def run_all(job: JobContext, inputs: dict[str, dict[str, np.ndarray]],
                  step_timeout: float = 5.0) -> dict[str, ProtocolResult]:
    net = MemoryNetwork(job.participants, job.job_id, step_timeout=step_timeout)
    results = await asyncio.gather(*(
        execute(StatsProtocol(), job, inputs.get(p, {}), net.transport(p))
        for p in job.participants
    ))
    return dict(zip(job.participants, results, strict=True))


def by_party(data: dict[str, np.ndarray]) -> dict[str, dict[str, np.ndarray]]:
    return {p: {f"{p}/d:x": column} for p, column in data.items()}


@pytest.mark.parametrize("parties", [THREE[:2], THREE])
@pytest.mark.parametrize("op", ["sum", "mean", "count"])
async def test_scalar_ops_match_numpy(parties: tuple[str, ...], op: str) -> None:
    data = columns(parties)
    results = await run_all(job_for({"op": op}, parties), by_party(data))
    result = loads(results["bank"].outputs["result"])
    everything = np.concatenate(list(data.values()))
    expected = {"sum": everything.sum(), "mean": everything.mean(), "count": len(everything)}[op]
    assert result["op"] == op
    if op == "count":
        assert result["value"] == expected
    else:
        assert isinstance(result["value"], str)
        assert abs(float(result["value"]) - expected) < TOLERANCE


@pytest.mark.parametrize("parties", [THREE[:2], THREE])
async def test_histogram_matches_numpy(parties: tuple[str, ...]) -> None:
    data = columns(parties)
    params = {"op": "histogram", "bins": "-50, 0, 25.5, 50, 100"}
    results = await run_all(job_for(params, parties), by_party(data))
    result = loads(results["bank"].outputs["result"])
    expected, _ = np.histogram(np.concatenate(list(data.values())), [-50, 0, 25.5, 50, 100])
    assert result == {"op": "histogram", "edges": ["-50", "0", "25.5", "50", "100"],
                      "counts": expected.tolist()}


@pytest.mark.parametrize("parties", [THREE[:2], THREE])
async def test_elementwise_sum_matches_numpy(parties: tuple[str, ...]) -> None:
    data = columns(parties)
    results = await run_all(job_for({"op": "elementwise_sum"}, parties), by_party(data))
    vector = np.load(io.BytesIO(results["bank"].outputs["result"]))
    assert vector.dtype == np.float64
    assert np.abs(vector - sum(data.values())).max() < TOLERANCE


async def test_scale_bits_20_gives_six_places() -> None:
    data = {"bank": np.array([0.1234567]), "telecom": np.array([1.0])}
    job = job_for({"op": "sum", "scale_bits": "20"}, ("bank", "telecom"))
    results = await run_all(job, by_party(data))
    assert loads(results["bank"].outputs["result"])["value"] == "1.123457"


async def test_non_recipients_receive_nothing() -> None:
    results = await run_all(job_for({"op": "sum"}, THREE), by_party(columns(THREE)))
    assert results["bank"].outputs
    assert results["platform"].outputs == {}
    assert results["telecom"].outputs == {}


async def test_all_recipients_get_identical_bytes() -> None:
    job = job_for({"op": "elementwise_sum"}, THREE, recipients=("platform", "telecom"))
    results = await run_all(job, by_party(columns(THREE)))
    assert results["bank"].outputs == {}
    assert results["platform"].outputs["result"] == results["telecom"].outputs["result"]


async def test_a_party_may_own_several_inputs_and_another_none() -> None:
    inputs = ("bank/a:x", "bank/b:y", "telecom/c:z")
    job = job_for({"op": "elementwise_sum"}, THREE, recipients=("platform",), inputs=inputs)
    x, y, z = np.arange(5.0), np.ones(5), np.full(5, 2.5)
    local = {"bank": {"bank/a:x": x, "bank/b:y": y}, "telecom": {"telecom/c:z": z}}
    results = await run_all(job, local)
    vector = np.load(io.BytesIO(results["platform"].outputs["result"]))
    assert vector.tolist() == (x + y + z).tolist()


async def test_mismatched_lengths_abort_everyone_with_the_lengths() -> None:
    data = {"bank": np.ones(10), "platform": np.ones(10), "telecom": np.ones(12)}
    with pytest.raises(ProtocolAborted) as info:
        await run_all(job_for({"op": "elementwise_sum"}, THREE), by_party(data))
    assert "telecom: 12 rows" in info.value.reason and "bank: 10 rows" in info.value.reason


async def test_each_party_sees_the_abort() -> None:
    data = {"bank": np.ones(3), "telecom": np.array([1.0, np.nan, 2.0])}
    job = job_for({"op": "sum"}, ("bank", "telecom"))
    net = MemoryNetwork(job.participants, step_timeout=60.0)
    outcomes = await asyncio.gather(
        *(execute(StatsProtocol(), job, by_party(data)[p], net.transport(p))
          for p in job.participants),
        return_exceptions=True,
    )
    by = dict(zip(job.participants, outcomes, strict=True))
    for outcome in outcomes:
        assert isinstance(outcome, ProtocolAborted) and outcome.party == "telecom"
    assert "NaN" in by["telecom"].reason  # its own detail, kept locally
    assert by["bank"].reason == (  # the peer hears the coded reason only
        "telecom's data for input telecom/d:x holds a value that does not fit the column's type "
        "[input_type_mismatch]"
    )


async def test_a_peer_never_hears_a_cell_value() -> None:
    planted = "C00042-secret"
    data = {"bank": np.ones(3), "telecom": np.array(["1", planted, "2"], dtype=object)}
    job = job_for({"op": "sum"}, ("bank", "telecom"))
    net = MemoryNetwork(job.participants, step_timeout=60.0)
    bank, telecom = await asyncio.gather(
        *(execute(StatsProtocol(), job, by_party(data)[p], net.transport(p))
          for p in job.participants),
        return_exceptions=True,
    )
    assert isinstance(bank, ProtocolAborted) and isinstance(telecom, ProtocolAborted)
    assert planted in str(telecom)  # telecom's own log may say which cell
    assert planted not in str(bank) and "(data row 2)" in bank.reason


async def test_an_unknown_op_aborts() -> None:
    with pytest.raises(ProtocolAborted, match="op='median'"):
        await run_all(job_for({"op": "median"}, THREE), by_party(columns(THREE)))


async def test_bad_histogram_edges_abort() -> None:
    with pytest.raises(ProtocolAborted, match="strictly increasing"):
        await run_all(job_for({"op": "histogram", "bins": "5,1"}, THREE), by_party(columns(THREE)))


async def test_a_missing_local_input_aborts() -> None:
    inputs = by_party(columns(THREE))
    del inputs["platform"]
    with pytest.raises(ProtocolAborted, match="platform/d:x is not among"):
        await run_all(job_for({"op": "sum"}, THREE), inputs)


async def test_mean_of_no_rows_is_null() -> None:
    data = {"bank": np.zeros(0), "telecom": np.zeros(0)}
    results = await run_all(job_for({"op": "mean"}, ("bank", "telecom")), by_party(data))
    assert loads(results["bank"].outputs["result"])["value"] is None


async def test_only_the_recipient_learns_the_count() -> None:
    """Non-recipients see only uniformly random shares: nothing they hold equals the count."""
    results = await run_all(job_for({"op": "count"}, THREE), by_party(columns(THREE, 7)))
    assert loads(results["bank"].outputs["result"])["value"] == 21
    assert "21" not in str(results["telecom"]) and results["telecom"].outputs == {}
