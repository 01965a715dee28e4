"""The in-memory transport: delivery by (sender, step, tag), abort for all, deadlines."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from node.errors import ProtocolAborted, ProtocolError, ProtocolTimeout, TransportError
from node.mpc import JobContext, MemoryNetwork, MemoryTransport, execute, get_protocol


async def test_messages_are_matched_by_sender_step_and_tag() -> None:
    net = MemoryNetwork(["a", "b", "c"])
    a, b, c = (net.transport(p) for p in "abc")
    await a.send("c", "s1", "x", b"from a")
    await b.send("c", "s1", "x", b"from b")
    await a.send_array("c", "s2", "y", np.arange(4))
    assert await c.recv("b", "s1", "x") == b"from b"
    assert (await c.recv_array("a", "s2", "y")).tolist() == [0, 1, 2, 3]
    assert await c.recv("a", "s1", "x") == b"from a"


async def test_arrays_are_copied_on_send() -> None:
    net = MemoryNetwork(["a", "b"])
    array = np.zeros(3)
    await net.transport("a").send_array("b", "s", "t", array)
    array[:] = 7
    assert not (await net.transport("b").recv_array("a", "s", "t")).any()


async def test_abort_reaches_every_party_with_the_reason() -> None:
    net = MemoryNetwork(["a", "b", "c"])
    waiting = [asyncio.create_task(net.transport(p).recv("a", "s", "t")) for p in "bc"]
    await asyncio.sleep(0)
    await net.transport("a").abort("input missing")
    for task in waiting:
        with pytest.raises(ProtocolAborted) as info:
            await task
        assert (info.value.reason, info.value.party) == ("input missing", "a")
    with pytest.raises(ProtocolAborted):
        await net.transport("a").send("b", "s", "t", b"late")


async def test_a_receive_past_its_deadline_times_out_and_aborts_the_others() -> None:
    net = MemoryNetwork(["a", "b"], step_timeout=0.05)
    with pytest.raises(ProtocolTimeout, match="step 's'"):
        await net.transport("a").recv("b", "s", "t")
    with pytest.raises(ProtocolAborted, match="waited"):
        await net.transport("b").recv("a", "s", "t")


async def test_sending_to_a_stranger_is_refused() -> None:
    net = MemoryNetwork(["a", "b"])
    with pytest.raises(TransportError, match="not another party"):
        await net.transport("a").send("z", "s", "t", b"")


async def test_bytes_where_an_array_is_expected_is_an_error() -> None:
    net = MemoryNetwork(["a", "b"])
    await net.transport("a").send("b", "s", "t", b"x")
    with pytest.raises(TransportError, match="array was expected"):
        await net.transport("b").recv_array("a", "s", "t")


class _Crashes:
    name = "crashes"

    async def run(self, job: object, local_inputs: object, transport: object) -> None:
        raise ValueError("bug in step 2")


class _Waits:
    name = "waits"

    async def run(self, job: object, local_inputs: object, transport: MemoryTransport) -> None:
        await transport.recv("a", "s", "t")


async def test_execute_turns_a_crash_into_an_abort_for_everyone() -> None:
    net = MemoryNetwork(["a", "b"])
    job = JobContext("j", "x", {}, (), {}, ("a", "b"))
    crash, waited = await asyncio.gather(
        execute(_Crashes(), job, {}, net.transport("a")),  # type: ignore[arg-type]
        execute(_Waits(), job, {}, net.transport("b")),  # type: ignore[arg-type]
        return_exceptions=True,
    )
    assert isinstance(crash, ValueError)
    assert isinstance(waited, ProtocolAborted)
    assert waited.party == "a" and waited.reason.endswith("[internal_error]")
    assert "bug in step 2" not in waited.reason  # the crash's text stays with its party


def test_the_registry_knows_stats_and_names_the_known_ones() -> None:
    assert get_protocol("stats").name == "stats"
    with pytest.raises(ProtocolError, match=r"known: .*stats"):
        get_protocol("nope")
