"""The one interface every multi-party protocol implements.

`run(job, local_inputs, transport) -> ProtocolResult`: pure maths inside (numpy), all I/O through
the transport. A protocol returns only the outputs this party is named a recipient of.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from node.mpc.transport import Transport


@dataclass(frozen=True)
class InputRef:
    """One input column of a job, `org/dataset:column`."""

    org: str
    dataset: str
    column: str

    @classmethod
    def parse(cls, text: str) -> InputRef:
        org, _, rest = text.partition("/")
        dataset, _, column = rest.partition(":")
        if not (org and dataset and column):
            raise ValueError(f"input {text!r} is not of the form ORG/DATASET:COLUMN")
        return cls(org, dataset, column)

    def __str__(self) -> str:
        return f"{self.org}/{self.dataset}:{self.column}"


@dataclass(frozen=True)
class JobContext:
    """What a protocol needs to know of the ledger's job (read from the committed job)."""

    job_id: str
    protocol: str
    parameters: dict[str, str]
    inputs: tuple[InputRef, ...]
    outputs: dict[str, tuple[str, ...]]
    """Output name -> recipient orgs."""
    participants: tuple[str, ...]
    dealer: str | None = None

    def recipients(self, output: str) -> tuple[str, ...]:
        return self.outputs.get(output, ())


LocalInputs = dict[str, np.ndarray]
"""This party's own input columns, keyed by `str(InputRef)`; strings as numpy object/str arrays."""


@dataclass
class ProtocolResult:
    """What one party takes away: the outputs it is a recipient of, as bytes, plus a summary."""

    outputs: dict[str, bytes] = field(default_factory=dict)
    summary: dict[str, str | int] = field(default_factory=dict)


class MpcProtocol(Protocol):
    name: str

    async def run(
        self, job: JobContext, local_inputs: LocalInputs, transport: Transport
    ) -> ProtocolResult: ...
