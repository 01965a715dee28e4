"""The one interface every multi-party protocol implements.

`run(job, local_inputs, transport) -> ProtocolResult`: pure maths inside (numpy), all I/O through
the transport. A protocol returns only the outputs this party is named a recipient of.

An output is either one `bytes` (small outputs: a statistic, a count) or a `StreamedOutput` (large
ones: an intersection of 5e7 ids): a file suffix and a function that yields the output's bytes in
order, chunk by chunk. The node pulls the chunks once, after the protocol returned (in a worker
thread, not on the event loop), writes them to the staged output file and computes the output's
sha256 digest as they pass (`write_output`); nothing holds the whole output as one `bytes`. The
digest is over the concatenated chunks, so two recipients producing the same bytes in different
chunkings agree. File names: `<output>.<suffix>` for streamed outputs; for `bytes` the node sniffs
(`.npy` for NumPy, `.json` for JSON, `.bin` otherwise).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO, Protocol

import numpy as np

from node.errors import ProtocolError
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


def own_columns(job: JobContext, local_inputs: LocalInputs, me: str) -> dict[str, np.ndarray]:
    """This party's input columns of `job`, by reference, each checked to be one column."""
    columns: dict[str, np.ndarray] = {}
    for ref in job.inputs:
        if ref.org != me:
            continue
        key = str(ref)
        if key not in local_inputs:
            raise ProtocolError(f"input {key} is not among this node's local inputs")
        column = np.asarray(local_inputs[key])
        if column.ndim != 1:
            raise ProtocolError(f"input {key} has shape {column.shape}; one column is expected")
        columns[key] = column
    return columns
"""This party's own input columns, keyed by `str(InputRef)`; strings as numpy object/str arrays.
Handed over: a protocol may take its columns out of the dict (`pop`) so that they are freed as
soon as it no longer needs them, and may reuse their memory (psi does both: at 1e8 rows a column
is 1.6 GB, and it gathers its output ids into the column's own rows); a caller keeps no use of a
column it handed over."""


@dataclass(frozen=True)
class StreamedOutput:
    """A large output, handed to the node as chunks of bytes instead of one `bytes`."""

    suffix: str
    """The delivered file's extension, without the dot ("csv")."""
    chunks: Callable[[], Iterator[bytes]]
    """Yields the output's bytes in order. The node calls it once; tests may call it again."""

    def read_all(self) -> bytes:
        """The whole output as bytes (tests and small outputs only)."""
        return b"".join(self.chunks())


OutputValue = bytes | StreamedOutput


def output_bytes(value: OutputValue) -> bytes:
    """The bytes of an output, whichever way the protocol handed it over."""
    return value.read_all() if isinstance(value, StreamedOutput) else bytes(value)


def write_output(value: OutputValue, sink: BinaryIO) -> tuple[str, int]:
    """Write `value` to `sink` chunk by chunk; (`sha256:<hex>` of the bytes, byte count)."""
    digest = hashlib.sha256()
    size = 0
    chunks = value.chunks() if isinstance(value, StreamedOutput) else iter((bytes(value),))
    for chunk in chunks:
        digest.update(chunk)
        sink.write(chunk)
        size += len(chunk)
    return "sha256:" + digest.hexdigest(), size


@dataclass
class ProtocolResult:
    """What one party takes away: the outputs it is a recipient of, plus a summary."""

    outputs: dict[str, OutputValue] = field(default_factory=dict)
    summary: dict[str, str | int] = field(default_factory=dict)


class MpcProtocol(Protocol):
    name: str

    async def run(
        self, job: JobContext, local_inputs: LocalInputs, transport: Transport
    ) -> ProtocolResult: ...
