"""Secure statistics: sum, mean, count, histogram and element-wise sum of several parties' columns.

Security model: semi-honest (every party follows the protocol but may try to learn from what it
sees), no collusion of all-but-one. A party's input stays private unless *all* the other parties
collude: any coalition that leaves out at least one other party learns nothing about a party's
input beyond what the output (if the coalition receives it) and the public facts below reveal.
No protection against a party that deviates (it can bias the result or abort), nor against the
collusion of all the others. Output leakage is inherent: with two parties, a recipient that holds
an input learns the other's by subtraction.

What is public: the protocol parameters, which party owns which input, and for `elementwise_sum`
the length of every party's columns (they must be equal). Row counts stay hidden from
non-recipients for the other ops (they are shared like the values).

Protocol (one round of sharing, one of opening):
1. Each party computes its local vector v_i in the clear over its own inputs: [sum] for `sum`,
   [sum, rows] for `mean`, [rows] for `count`, per-bin counts for `histogram`, the row-wise sum of
   its columns for `elementwise_sum` (values in fixed point, see fixedpoint.py). A party with no
   input contributes zeros.
2. It shares v_i additively over Z_2^64: for each other party j a fresh 32-byte seed (sent to j,
   step "share") stands for the share AES-CTR(seed); its own share is v_i minus those.
3. Each party adds its own share and the expansions of the seeds it received: y_j, a uniformly
   random vector unless all other parties pool theirs.
4. Each party sends y_j to each recipient of output "result" (step "open"); a recipient adds all
   y_j and decodes. Non-recipients get no output (ProtocolResult.outputs is empty).
Traffic is one vector per (party, recipient) pair plus 32 bytes per pair of parties.

Job parameters: the `stats` spec in alliance/protocols/stats.py (`op` in sum | mean | count |
histogram | elementwise_sum; `bins` comma-separated increasing edges, histogram only: bins are
[e_i, e_i+1), the last one closed, values outside all bins are not counted — numpy.histogram's
rule; `scale_bits`, default 16). The contract checked them at request; the node parses the same
model and refuses anything else.

Output "result", identical bytes at every recipient (its sha256 is the receipt digest):
- sum, mean, count, histogram: canonical JSON —
  {"op":"sum","scale_bits":16,"value":"<decimal>"}, {"op":"mean",...,"value":"<decimal>"|null}
  (null for zero rows), {"op":"count","value":<int>},
  {"op":"histogram","edges":["<decimal>",...],"counts":[<int>,...]}.
  Decimals are rounded half-to-even to the places the scale resolves (16 → 4, 20 → 6).
- elementwise_sum: a NumPy .npy file (format 1.0, header written byte for byte by this module):
  a 1-D little-endian float64 array, each total rounded to the scale's decimal places. Read it with
  `numpy.load(io.BytesIO(data))` or `decode_vector_output`.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Awaitable, Callable

import numpy as np

from alliance.canonical import canonical_json, loads
from alliance.errors import EncodingError, ProtocolSpecError
from alliance.protocols.stats import OPS as OPS
from alliance.protocols.stats import OUTPUT, STATS, StatsParams
from node.errors import InputValueError, ProtocolAborted, ProtocolError
from node.failures import public_abort_reason
from node.mpc import fixedpoint, sharing
from node.mpc.protocol import JobContext, LocalInputs, ProtocolResult, own_columns
from node.mpc.transport import Transport

STEP_SHAPE = "shape"
STEP_SHARE = "share"
STEP_OPEN = "open"


def parse_params(parameters: dict[str, str], default_scale_bits: int) -> StatsParams:
    """The job's parameters through the `stats` spec (the schema the contract checked at request);
    ProtocolError with the accepted values otherwise. An unset scale_bits takes this node's
    default."""
    try:
        params = STATS.parse_params(parameters)
    except ProtocolSpecError as exc:
        raise ProtocolError(str(exc)) from None
    if "scale_bits" not in parameters:
        params = params.model_copy(update={"scale_bits": default_scale_bits})
    fixedpoint.check_scale_bits(params.scale_bits)
    return params


class StatsProtocol:
    """The `stats` protocol (see the module docstring for its model, parameters and output)."""

    name = "stats"

    def __init__(self, default_scale_bits: int = fixedpoint.DEFAULT_SCALE_BITS) -> None:
        self.default_scale_bits = default_scale_bits

    async def run(
        self, job: JobContext, local_inputs: LocalInputs, transport: Transport
    ) -> ProtocolResult:
        me = transport.party
        parties = transport.parties
        others = [p for p in parties if p != me]

        async def fail(reason: str) -> ProtocolAborted:
            await transport.abort(reason)
            return ProtocolAborted(reason, me)

        try:
            params = parse_params(job.parameters, self.default_scale_bits)
            recipients = job.recipients(OUTPUT)
            if not recipients:
                raise ProtocolError(f"job {job.job_id} names no recipient for output {OUTPUT!r}")
            strangers = sorted({*recipients, *(ref.org for ref in job.inputs)} - set(parties))
            if strangers:
                raise ProtocolError(
                    f"{', '.join(strangers)} own an input or receive the result of job "
                    f"{job.job_id} but are not among its parties ({', '.join(parties)})"
                )
            columns = own_columns(job, local_inputs, me)
            local = _local_vector(params, columns, me)
        except ProtocolError as exc:
            await transport.abort(public_abort_reason(exc, me, _own_refs(job, me)))
            raise ProtocolAborted(f"{me}: {exc}", me) from exc

        length = len(local)
        if params.op == "elementwise_sum":
            length = await _agree_length(transport, others, me, local, columns, fail)
            if not columns:
                local = np.zeros(length, dtype=np.uint64)

        # Share: own share in place, one seed per other party.
        seeds = sharing.share_in_place(local, len(others))
        await asyncio.gather(*(
            transport.send(peer, STEP_SHARE, "seed", seed)
            for peer, seed in zip(others, seeds, strict=True)
        ))
        for peer in others:
            seed = await transport.recv(peer, STEP_SHARE, "seed")
            if len(seed) != sharing.SEED_BYTES:
                raise await fail(f"{me}: {peer} sent a share seed of {len(seed)} bytes")
            sharing.add_expansion(local, seed)

        # Open to the recipients only.
        outputs: dict[str, bytes] = {}
        sends = [transport.send_array(r, STEP_OPEN, "share", local) for r in recipients if r != me]
        if me in recipients:
            async def gather_shares() -> np.ndarray:
                total = np.array(local, copy=True)
                for peer in others:
                    share = await transport.recv_array(peer, STEP_OPEN, "share")
                    if share.dtype != np.uint64 or share.shape != total.shape:
                        raise await fail(
                            f"{me}: {peer} opened a share of {share.dtype}{list(share.shape)}, "
                            f"expected uint64[{length}]"
                        )
                    np.add(total, share, out=total)
                    del share
                return total

            results = await asyncio.gather(gather_shares(), *sends)
            outputs[OUTPUT] = encode_output(params, results[0])
        else:
            await asyncio.gather(*sends)
        summary: dict[str, str | int] = {
            "op": params.op, "scale_bits": params.scale_bits, "local_inputs": len(columns),
            "local_rows": sum(len(c) for c in columns.values()),
        }
        return ProtocolResult(outputs=outputs, summary=summary)



def _own_refs(job: JobContext, me: str) -> set[str]:
    return {str(ref) for ref in job.inputs if ref.org == me}


def _for_input(key: str, function: Callable[..., np.ndarray], *args: object) -> np.ndarray:
    """`function(*args)` on input `key`'s column; an InputValueError it raises names the input."""
    try:
        return function(*args)
    except InputValueError as exc:
        if exc.input_ref is None:
            exc.input_ref = key
        raise


def _local_vector(params: StatsParams, columns: dict[str, np.ndarray], me: str) -> np.ndarray:
    """This party's contribution in the clear, as uint64 words (fixed point where it is a value)."""
    rows = sum(len(c) for c in columns.values())
    if params.op == "count":
        return np.array([rows], dtype=np.uint64)
    if params.op == "histogram":
        edges = np.array([float(e) for e in params.edges])
        counts = np.zeros(len(edges) - 1, dtype=np.uint64)
        for key, column in columns.items():
            values = _for_input(key, fixedpoint.to_float, column)
            if np.isnan(values).any():
                raise InputValueError(f"input {key} holds NaN values; clean the column first",
                                      input_ref=key)
            counts += np.histogram(values, bins=edges)[0].astype(np.uint64)
        return counts
    encoded = {key: _for_input(key, fixedpoint.encode, column, params.scale_bits, f"input {key}")
               for key, column in columns.items()}
    limit = fixedpoint.value_limit(params.scale_bits)
    if params.op == "elementwise_sum":
        lengths = {len(c) for c in encoded.values()}
        if len(lengths) > 1:
            raise ProtocolError(
                f"elementwise_sum needs aligned columns of equal length, but {me}'s inputs have "
                f"{', '.join(f'{k}: {len(c)} rows' for k, c in columns.items())}"
            )
        if not encoded:
            return np.zeros(0, dtype=np.uint64)
        words = list(encoded.values())
        total = words[0] if len(words) == 1 else sharing.reconstruct(words)
        check = sum(fixedpoint.to_float(c) for c in columns.values())
        if len(words) > 1 and np.abs(check).max(initial=0.0) >= limit:
            raise ProtocolError(f"{me}'s row totals exceed ±2^{63 - params.scale_bits}")
        return total  # a fresh array either way: encode() and reconstruct() allocate
    # sum / mean
    approx = sum(float(fixedpoint.to_float(c).sum()) for c in columns.values())
    if abs(approx) >= limit:
        raise ProtocolError(
            f"{me}'s local total {approx:.6g} is beyond ±2^{63 - params.scale_bits}; request "
            "the job with a smaller scale_bits"
        )
    total = np.zeros(1, dtype=np.uint64)
    for words in encoded.values():
        total += np.sum(words, dtype=np.uint64)
    if params.op == "mean":
        return np.array([total[0], rows], dtype=np.uint64)
    return total


async def _agree_length(
    transport: Transport, others: list[str], me: str, local: np.ndarray,
    columns: dict[str, np.ndarray], fail: Callable[[str], Awaitable[ProtocolAborted]],
) -> int:
    """Exchange column lengths (public for elementwise_sum) and check they agree."""
    mine = len(local) if columns else -1
    await asyncio.gather(*(
        transport.send(peer, STEP_SHAPE, "rows", canonical_json({"rows": mine})) for peer in others
    ))
    lengths = {me: mine}
    for peer in others:
        raw = await transport.recv(peer, STEP_SHAPE, "rows")
        try:
            lengths[peer] = int(loads(raw)["rows"])
        except (EncodingError, ValueError, KeyError, TypeError):
            raise await fail(f"{me}: {peer} sent a malformed row count") from None
    held = {p: n for p, n in sorted(lengths.items()) if n >= 0}
    if len(set(held.values())) > 1:
        listing = ", ".join(f"{p}: {n} rows" for p, n in held.items())
        raise await fail(
            f"elementwise_sum needs aligned columns of equal length, but {listing}; "
            "re-request the job on aligned datasets"
        )
    return next(iter(held.values()), 0)


def encode_output(params: StatsParams, words: np.ndarray) -> bytes:
    """The recipients' output bytes (see the module docstring); identical at every recipient."""
    s = params.scale_bits
    if params.op == "elementwise_sum":
        return npy_bytes(fixedpoint.decode_vector(words, s))
    value: str | int | None
    if params.op == "count":
        value = int(words[0])
    elif params.op == "histogram":
        return canonical_json({
            "op": "histogram",
            "edges": [fixedpoint.canonical_decimal(e) for e in params.edges],
            "counts": [int(c) for c in words],
        })
    elif params.op == "mean":
        rows = int(words[1])
        value = fixedpoint.to_decimal_string(int(words[0]), s, rows) if rows else None
    else:
        value = fixedpoint.to_decimal_string(int(words[0]), s)
    return canonical_json({"op": params.op, "scale_bits": s, "value": value})


def npy_bytes(vector: np.ndarray) -> bytes:
    """A 1-D float64 vector as .npy 1.0 bytes, with the header written here byte for byte."""
    data = np.ascontiguousarray(vector, dtype="<f8")
    header = f"{{'descr': '<f8', 'fortran_order': False, 'shape': ({len(data)},), }}"
    preamble = 10
    padding = (-(preamble + len(header) + 1)) % 64
    header_bytes = (header + " " * padding + "\n").encode("latin1")
    magic = b"\x93NUMPY\x01\x00" + len(header_bytes).to_bytes(2, "little")
    return magic + header_bytes + data.tobytes()


def decode_vector_output(data: bytes) -> np.ndarray:
    """Read an elementwise_sum output back into a float64 vector."""
    return np.load(io.BytesIO(data), allow_pickle=False)
