"""`PsiProtocol`: private set intersection of two parties' id columns, as a job protocol ("psi").

Security model: semi-honest (both parties follow the protocol; each may try to learn from what it
sees); no protection against a party that deviates. What each side learns: the other's number of
distinct non-empty normalised ids (exchanged openly in the first step, it sizes the protocol), the
engine chosen, and exactly the outputs the job names it a recipient of — the intersection (its own
ids that the other also holds, hence the cardinality) or the cardinality alone. A party named for
no output learns only the other's set size. Each engine's module states its own model in detail
(ecdh.py, engine.py). Sets above 15 million ids (the larger side) run the kkrt engine on padded
digest-prefix partitions, one after another (partition.py): the partition count and the padded
partition sizes are functions of the two set sizes alone, so they reveal nothing more. Columns
above 15 million rows are prepared without holding their digests (prepare.py); the ASCII rows of
a packed 'S' column (UTF-8 bytes) never become Python str objects (non-ASCII rows take
normalize.py's per-row path). Both nodes must run with the same partitioning settings (checked in
the first step, like the engine and the normalisation).

Job parameters (the `psi` spec in alliance/protocols/psi.py, checked by the contract at request
and parsed again here):
- `engine`: `auto` (default: `ecdh` when both sets are below 100 000 ids, else `kkrt`), `ecdh`
  (ECDH over Curve25519, the reference), `kkrt` (the bulk OT-extension engine).
- `normalize`: normalisation steps, default `trim,nfc` (see normalize.py), e.g. `trim,lower`.

Inputs: exactly one id column per party (`org/dataset:column`). Outputs (recipients must be
parties; at least one output must be named):
- `intersection`: a CSV file (`intersection.csv`): the header line `id`, then the sorted
  (bytewise) unique normalised ids, one per line, each line ended by "\n"; UTF-8; ids holding a
  comma, quote, CR or LF quoted per RFC 4180 (output.py). Handed to the node as a
  `StreamedOutput` (written and digested chunk by chunk, never one `bytes`); identical bytes at
  every recipient, so their receipts agree.
- `cardinality`: canonical JSON `{"cardinality": n}`.
Duplicates and ids empty after normalisation are dropped before anything is computed. An abort or
error anywhere mid-protocol raises and returns no output.
"""

from __future__ import annotations

import asyncio

import numpy as np

from alliance.canonical import canonical_json, loads
from alliance.errors import EncodingError, ProtocolSpecError
from alliance.protocols.psi import ENGINES as ENGINES
from alliance.protocols.psi import OUT_CARDINALITY, OUT_INTERSECTION, PSI, PsiParams
from node.errors import DatasetError, ProtocolAborted, ProtocolError
from node.failures import public_abort_reason
from node.mpc.protocol import JobContext, LocalInputs, OutputValue, ProtocolResult, StreamedOutput
from node.mpc.psi.ecdh import run_ecdh
from node.mpc.psi.engine import run_kkrt
from node.mpc.psi.normalize import Normalization
from node.mpc.psi.output import intersection_csv, sort_ids, sort_ids_inplace
from node.mpc.psi.partition import PARTITION_MAX, SINGLE_MAX, partition_count, run_partitioned
from node.mpc.psi.prepare import STREAM_ROWS, PreparedIds, StreamedIds, prepare_ids
from node.mpc.psi.roles import PsiOutcome, PsiRoles
from node.mpc.psi.trace import Phases
from node.mpc.transport import Transport

NAME = "psi"
ECDH_MAX = 100_000
STEP_HELLO = "psi.hello"
VERSION = 2


def choose_engine(requested: str, n_a: int, n_b: int, ecdh_max: int = ECDH_MAX) -> str:
    """The engine both parties run: as requested, or for `auto` by the larger set's size."""
    if requested != "auto":
        return requested
    return "ecdh" if max(n_a, n_b) < ecdh_max else "kkrt"


def encode_intersection(ids: np.ndarray) -> bytes:
    """The `intersection` output's bytes for (unsorted, unique) ids: CSV, header `id`."""
    return intersection_csv(sort_ids(ids)).read_all()


def _intersection_output(prepared: PreparedIds | StreamedIds, outcome: PsiOutcome
                         ) -> StreamedOutput:
    """The matched ids, sorted, as the streamed CSV output, holding as little as it can at once:
    the matched rows become sorted int32 (when they fit) and go once their ids are gathered; a
    large packed column (taken out of the caller's `local_inputs` at the start) takes the ids
    into its own first rows (`StreamedIds.take_ids`), otherwise it goes once they are gathered;
    the ids are sorted in place. What stays until the node has written the file is the sorted
    ids (at 1e8 rows: in the 1.6 GB column) and one chunk of lines at a time."""
    matched = np.asarray(outcome.matched)
    outcome.matched = None
    small = matched.size == 0 or int(matched.max()) < 2**31
    rows = matched.astype(np.int32 if small else np.int64, copy=False)
    del matched
    rows.sort()
    ids = prepared.take_ids(rows)
    del rows
    prepared.release()  # what the ids do not use of the input column goes before the sort
    sort_ids_inplace(ids)
    return intersection_csv(ids)


def encode_cardinality(count: int) -> bytes:
    return canonical_json({"cardinality": int(count)})


class PsiProtocol:
    """Two-party PSI job protocol; see the module docstring for parameters and outputs."""

    name = NAME

    def __init__(self, ecdh_max: int = ECDH_MAX, single_max: int = SINGLE_MAX,
                 partition_max: int = PARTITION_MAX, stream_rows: int = STREAM_ROWS) -> None:
        self.ecdh_max = ecdh_max
        self.single_max = single_max
        self.partition_max = partition_max
        self.stream_rows = stream_rows

    async def run(
        self, job: JobContext, local_inputs: LocalInputs, transport: Transport
    ) -> ProtocolResult:
        me = transport.party
        phases = Phases(f"protocol {me}")
        try:
            peer, column, norm, requested = _check_job(job, local_inputs, me, transport.parties)
            for ref in job.inputs:  # handed over: freed once the outputs are gathered
                if ref.org == me:
                    local_inputs.pop(str(ref), None)
            # off the event loop: at 1e8 rows this takes ~20 s, and the transport must keep
            # answering meanwhile
            prepared = await asyncio.to_thread(prepare_ids, column, norm, self.stream_rows)
            del column
        except (ProtocolError, DatasetError, ValueError) as exc:
            mine = [str(ref) for ref in job.inputs if ref.org == me]
            if isinstance(exc, DatasetError) and exc.input_ref is None and len(mine) == 1:
                exc.input_ref = mine[0]
            await transport.abort(public_abort_reason(exc, me, set(mine)))
            raise ProtocolAborted(f"{me}: {exc}", me) from exc

        phases.mark("prepare")
        hello = {"version": VERSION, "n": len(prepared), "engine": requested,
                 "normalize": str(norm),
                 "partitioning": f"{self.single_max}/{self.partition_max}"}
        await transport.send(peer, STEP_HELLO, "hello", canonical_json(hello))
        try:
            theirs = loads(await transport.recv(peer, STEP_HELLO, "hello"))
            n_peer = int(theirs["n"])
            mismatch = [k for k in ("version", "engine", "normalize", "partitioning")
                        if theirs.get(k) != hello[k]]
        except (EncodingError, KeyError, TypeError, ValueError) as exc:
            raise await _fail(transport, f"{me}: {peer} sent a malformed hello ({exc})") from exc
        if mismatch:
            raise await _fail(transport, f"{me}: {peer} disagrees on {', '.join(mismatch)} "
                              f"({theirs}); both nodes must run the same job and engine version")

        roles = PsiRoles(
            me=me, peer=peer, n_mine=len(prepared), n_peer=n_peer,
            gets_intersection=me in job.recipients(OUT_INTERSECTION),
            gets_cardinality=me in job.recipients(OUT_CARDINALITY),
            peer_gets_intersection=peer in job.recipients(OUT_INTERSECTION),
            peer_gets_cardinality=peer in job.recipients(OUT_CARDINALITY),
        )
        engine = choose_engine(requested, len(prepared), n_peer, self.ecdh_max)
        phases.mark("hello")
        parts = 1 if engine == "ecdh" else partition_count(
            len(prepared), n_peer, self.single_max, self.partition_max)
        try:
            if parts > 1:
                outcome = await run_partitioned(transport, roles, prepared, parts)
            else:
                digests, rows = await asyncio.to_thread(prepared.all_digests)
                run = run_ecdh if engine == "ecdh" else run_kkrt
                outcome = await run(transport, roles, digests)
                del digests
                if rows is not None and outcome.matched is not None:
                    outcome.matched = np.asarray(rows[outcome.matched], dtype=np.int64)
        except ProtocolAborted:
            raise
        except Exception as exc:
            await transport.abort(public_abort_reason(exc, me, set()))
            raise ProtocolAborted(f"{me}: {type(exc).__name__}: {exc}", me) from exc
        phases.mark(engine)
        n_mine = len(prepared)
        prepared.drop_digests()
        result = await asyncio.to_thread(_result, roles, outcome, prepared, engine, norm, parts,
                                         n_mine)
        prepared.release()
        phases.mark("outputs")
        phases.report()
        return result


def _result(roles: PsiRoles, outcome: PsiOutcome, prepared: PreparedIds | StreamedIds,
            engine: str, norm: Normalization, parts: int, n_mine: int) -> ProtocolResult:
    outputs: dict[str, OutputValue] = {}
    summary: dict[str, str | int] = {
        "engine": engine, "normalize": str(norm), "ids": n_mine, "peer_ids": roles.n_peer,
        "partitions": parts,
    }
    if roles.gets_intersection:
        if outcome.matched is None:
            raise ProtocolError("the engine returned no intersection to a recipient of it")
        outputs[OUT_INTERSECTION] = _intersection_output(prepared, outcome)
    if roles.gets_cardinality:
        if outcome.cardinality is None:
            raise ProtocolError("the engine returned no cardinality to a recipient of it")
        outputs[OUT_CARDINALITY] = encode_cardinality(outcome.cardinality)
    if outcome.cardinality is not None:
        summary["cardinality"] = outcome.cardinality
    return ProtocolResult(outputs=outputs, summary=summary)


async def _fail(transport: Transport, reason: str) -> ProtocolAborted:
    await transport.abort(reason)
    return ProtocolAborted(reason, transport.party)


def _check_job(
    job: JobContext, local_inputs: LocalInputs, me: str, parties: tuple[str, ...]
) -> tuple[str, np.ndarray, Normalization, str]:
    if len(parties) != 2:
        raise ProtocolError(f"psi runs between exactly two parties; job {job.job_id} has "
                            f"{len(parties)} ({', '.join(parties)})")
    peer = next(p for p in parties if p != me)
    outputs = {k: v for k, v in job.outputs.items() if v}
    unknown = sorted(set(outputs) - {OUT_INTERSECTION, OUT_CARDINALITY})
    if unknown:
        raise ProtocolError(f"psi has no output named {', '.join(unknown)}; name "
                            f"'{OUT_INTERSECTION}' and/or '{OUT_CARDINALITY}'")
    if not outputs:
        raise ProtocolError(f"job {job.job_id} names no recipient for '{OUT_INTERSECTION}' or "
                            f"'{OUT_CARDINALITY}'")
    strangers = sorted({r for rs in outputs.values() for r in rs} - set(parties))
    if strangers:
        raise ProtocolError(f"{', '.join(strangers)} would receive a psi output but are not "
                            f"parties of job {job.job_id}; only the two input owners can")
    mine = [ref for ref in job.inputs if ref.org == me]
    owners = sorted({ref.org for ref in job.inputs})
    if len(mine) != 1 or owners != sorted(parties):
        raise ProtocolError(f"psi needs exactly one id column from each party; job {job.job_id} "
                            f"has inputs {', '.join(map(str, job.inputs))}")
    key = str(mine[0])
    if key not in local_inputs:
        raise ProtocolError(f"input {key} is not among this node's local inputs")
    column = np.asarray(local_inputs[key])
    if column.ndim != 1:
        raise ProtocolError(f"input {key} has shape {column.shape}; one column is expected")
    try:
        params = PSI.parse_params(job.parameters)
    except ProtocolSpecError as exc:
        raise ProtocolError(str(exc)) from None
    assert isinstance(params, PsiParams)
    return peer, column, params.normalize, params.engine
