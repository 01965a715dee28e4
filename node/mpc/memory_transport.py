"""All parties of one job in one asyncio event loop: the transport protocols are tested on.

`MemoryNetwork(parties)` builds one connected `MemoryTransport` per party. Messages are whole
objects (arrays copied on send, so no party can alias another's buffer), queued by
(sender, step, tag), and go through the same `Framer` as the gRPC transport so transcripts are
computed the same way. An abort by any party reaches every party at once; a receive that outlasts
its step deadline raises ProtocolTimeout and aborts the job for the others.
"""

from __future__ import annotations

from types import TracebackType

import numpy as np

from node.errors import ProtocolTimeout, TransportError
from node.mpc.framing import Framer, Mailbox, Message, expect_array, expect_bytes

DEFAULT_STEP_TIMEOUT = 30.0


class MemoryTransport:
    """One party's end of a `MemoryNetwork`."""

    def __init__(self, network: MemoryNetwork, party: str) -> None:
        self._network = network
        self._party = party
        self._framer = Framer(network.job_id, network.run, party)
        self._mailbox = Mailbox(self._framer, network.step_timeout)
        self.bytes_sent = 0

    @property
    def party(self) -> str:
        return self._party

    @property
    def parties(self) -> tuple[str, ...]:
        return self._network.parties

    @property
    def transcript_digest(self) -> str:
        return self._framer.transcript_digest

    def _peer(self, other: str) -> MemoryTransport:
        if other == self._party or other not in self._network.parties:
            raise TransportError(
                f"{other!r} is not another party of job {self._network.job_id} "
                f"(parties: {', '.join(self._network.parties)})"
            )
        return self._network.transports[other]

    async def _send(self, to: str, step: str, tag: str, payload: bytes | np.ndarray) -> None:
        self._mailbox.check()
        peer = self._peer(to)
        message = self._framer.message(to, step, tag, payload)
        self.bytes_sent += message.header.nbytes
        peer._mailbox.deliver(message)

    async def send(self, to: str, step: str, tag: str, payload: bytes) -> None:
        await self._send(to, step, tag, bytes(payload))

    async def send_array(self, to: str, step: str, tag: str, array: np.ndarray) -> None:
        await self._send(to, step, tag, np.asarray(array))

    async def _take(self, frm: str, step: str, tag: str) -> Message:
        self._peer(frm)
        try:
            return await self._mailbox.take(frm, step, tag)
        except ProtocolTimeout as exc:
            self._network.abort_all(str(exc), self._party)
            raise

    async def recv(self, frm: str, step: str, tag: str) -> bytes:
        return expect_bytes(await self._take(frm, step, tag))

    async def recv_array(self, frm: str, step: str, tag: str) -> np.ndarray:
        return expect_array(await self._take(frm, step, tag))

    async def abort(self, reason: str) -> None:
        self._network.abort_all(reason, self._party)

    async def close(self) -> None:
        """Nothing to release; present so callers treat both transports alike."""

    async def __aenter__(self) -> MemoryTransport:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


class MemoryNetwork:
    """Connected in-memory transports for every party of one job run."""

    def __init__(
        self, parties: tuple[str, ...] | list[str], job_id: str = "job", run: int = 1,
        step_timeout: float = DEFAULT_STEP_TIMEOUT,
    ) -> None:
        names = tuple(sorted(parties))
        if len(set(names)) != len(names) or len(names) < 2:
            raise TransportError(f"a job needs at least two distinct parties, got {list(parties)}")
        self.parties = names
        self.job_id = job_id
        self.run = run
        self.step_timeout = step_timeout
        self.transports = {party: MemoryTransport(self, party) for party in names}

    def transport(self, party: str) -> MemoryTransport:
        return self.transports[party]

    def abort_all(self, reason: str, party: str) -> None:
        """Abort every party with `reason` (the first abort's reason is the one everybody sees)."""
        for transport in self.transports.values():
            transport._mailbox.fail(reason, party)
