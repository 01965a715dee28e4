"""The transport a protocol sees: ordered, framed messages between the parties of one job.

Messages are addressed by (peer, step, tag) so that a protocol's steps cannot be confused; arrays
travel as raw little-endian bytes with dtype and shape, chunked underneath by the implementation.
Two implementations: `MemoryTransport` (all parties in one event loop, for tests) and the gRPC
transport (mutual TLS between nodes). An abort on any side ends the protocol on all sides.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np


class Transport(Protocol):
    """One party's view of the job's message network."""

    @property
    def party(self) -> str:
        """This party's org name."""
        ...

    @property
    def parties(self) -> tuple[str, ...]:
        """Every participant's org name, in the job's canonical (sorted) order."""
        ...

    async def send(self, to: str, step: str, tag: str, payload: bytes) -> None: ...

    async def recv(self, frm: str, step: str, tag: str) -> bytes:
        """The payload `frm` sent under (step, tag); raises ProtocolAborted if the job aborted."""
        ...

    async def send_array(self, to: str, step: str, tag: str, array: np.ndarray) -> None: ...

    async def recv_array(self, frm: str, step: str, tag: str) -> np.ndarray: ...

    async def abort(self, reason: str) -> None:
        """End the protocol for every party with `reason`; later sends and receives raise."""
        ...

    @property
    def transcript_digest(self) -> str:
        """`sha256:<hex>` over every message this party sent and received, in order."""
        ...
