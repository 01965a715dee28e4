"""What every modelling protocol does first: roles, alignment, and agreeing on the rows.

Roles come from the job: the label holder owns the `label` input; data parties own inputs; the
dealer (the job's `dealer`) owns none and only supplies correlated randomness. Each data party
aligns its rows by the PSI intersection when one is passed (see alignment.py), then all data
parties exchange their row count and the digest of the id list their rows follow, and refuse to
go on unless every party has the same; the dealer is told the row count (it sizes its randomness).
Row counts are public among the job's parties; nothing else is sent here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np

from alliance.canonical import canonical_json, loads
from alliance.errors import EncodingError
from node.errors import InputValueError, ProtocolAborted, ProtocolError
from node.failures import public_abort_reason
from node.mpc.modelling import alignment
from node.mpc.protocol import InputRef, JobContext, LocalInputs, ProtocolResult, own_columns
from node.mpc.psi.normalize import Normalization
from node.mpc.transport import Transport

STEP_ROWS = "modelling.rows"
T = TypeVar("T")


@dataclass
class Session:
    me: str
    parties: tuple[str, ...]
    label_holder: str
    data_parties: tuple[str, ...]
    dealer: str | None
    columns: dict[str, np.ndarray] = field(default_factory=dict)
    """This party's feature columns (input ref -> values), aligned; the label and ids excluded."""
    label: np.ndarray | None = None
    rows: int = 0

    @property
    def is_dealer(self) -> bool:
        return self.me == self.dealer

    @property
    def feature_owners(self) -> tuple[str, ...]:
        return tuple(p for p in self.data_parties if p != self.label_holder)


def _ref(text: str, what: str) -> InputRef:
    try:
        return InputRef.parse(text.strip())
    except ValueError as exc:
        raise ProtocolError(f"the {what} parameter: {exc}") from None


def roles(job: JobContext, transport: Transport, label: str, need_dealer: bool,
          holder: str = "") -> Session:
    """Who is who in this job (pure; raises ProtocolError with what to fix). Without a label,
    `holder` names the label holder (the org holding a model's intercept)."""
    parties = transport.parties
    data = tuple(sorted({ref.org for ref in job.inputs}))
    if label:
        label_ref = _ref(label, "label")
        if label_ref not in job.inputs:
            raise ProtocolError(f"the label {label_ref} is not among the job's inputs")
        if holder and holder != label_ref.org:
            raise ProtocolError(f"the label {label_ref} is not held by {holder}")
        holder = label_ref.org
    if holder not in data:
        raise ProtocolError(f"{holder or 'no party'} is named to hold the label or intercept, "
                            "but holds no input of the job")
    strangers = sorted(set(data) - set(parties))
    if strangers:
        raise ProtocolError(f"{', '.join(strangers)} own inputs but are not parties of the job")
    dealer = job.dealer
    if need_dealer and len(data) > 1:
        if not dealer or dealer not in parties:
            raise ProtocolError(
                f"job {job.job_id} needs a dealer among its parties (a member that holds no input "
                "and supplies correlated randomness); request it again with "
                "`alliance job request ... --dealer ORG`"
            )
        if dealer in data:
            raise ProtocolError(
                f"the dealer {dealer} also holds inputs; the dealer must hold none (it could "
                "unmask the others' data); request it again with `--dealer` naming a member "
                "without inputs"
            )
    for output, recipients in job.outputs.items():
        if "." in output:
            owner = output.split(".", 1)[1]
            if tuple(recipients) != (owner,):
                raise ProtocolError(
                    f"output {output} goes to its owner {owner} alone, not to "
                    f"{', '.join(recipients)}; request it again with `--output {output}={owner}`"
                )
        if dealer and dealer in recipients and dealer not in data:
            raise ProtocolError(f"the dealer {dealer} cannot receive {output}: it holds no data")
        outsiders = sorted(set(recipients) - set(parties))
        if outsiders:
            raise ProtocolError(f"{', '.join(outsiders)} receive {output} but are not parties")
    return Session(transport.party, parties, holder, data, dealer)


def local_columns(session: Session, job: JobContext, local_inputs: LocalInputs, label: str,
                  ids: str, normalize: str, binary_label: bool = True) -> str:
    """Fill `session.columns` and `session.label` from this party's inputs (aligned when an
    intersection is given); returns the alignment digest. The label holds 0 and 1 (int64), or
    with `binary_label=False` any finite numbers (float64: a regression target)."""
    me = session.me
    label_ref = _ref(label, "label") if label else None
    id_refs = [_ref(t, "ids") for t in ids.split(",") if t.strip()]
    my_ids = [r for r in id_refs if r.org == me]
    mine = own_columns(job, local_inputs, me)
    raw = local_inputs.get(alignment.ALIGNMENT_KEY)
    intersection_bytes = None if raw is None else bytes(np.asarray(raw, dtype=np.uint8))
    if intersection_bytes is not None:
        if len(my_ids) != 1:
            raise ProtocolError(
                f"the rows are to be aligned by a PSI intersection, so the ids parameter must name "
                f"exactly one id column of {me}"
            )
        order = alignment.alignment_order(
            mine[str(my_ids[0])], alignment.parse_intersection(intersection_bytes),
            Normalization.parse(normalize),
        )
        mine = alignment.align_columns(mine, order)
    for ref in my_ids:
        mine.pop(str(ref), None)
    if label_ref is not None and label_ref.org == me:
        y = mine.pop(str(label_ref))
        try:
            y = y.astype(np.float64)
        except (TypeError, ValueError):
            raise InputValueError(
                f"the label {label_ref} is not numeric; it must hold 0 and 1",
                input_ref=str(label_ref),
            ) from None
        if not binary_label:
            bad = np.flatnonzero(~np.isfinite(y))
            if bad.size:
                raise InputValueError(
                    f"the label {label_ref} holds missing or infinite values; clean the column",
                    input_ref=str(label_ref),
                    row=None if intersection_bytes else int(bad[0]) + 1,
                )
        bad = np.flatnonzero(~np.isin(y, (0.0, 1.0))) if binary_label else bad[:0]
        if bad.size:
            raise InputValueError(
                f"the label {label_ref} holds values other than 0 and 1; clean the column",
                input_ref=str(label_ref), row=None if intersection_bytes else int(bad[0]) + 1,
            )
        session.label = y.astype(np.int64) if binary_label else y
    session.columns = mine
    lengths = {len(c) for c in mine.values()} | (
        {len(session.label)} if session.label is not None else set())
    if len(lengths) > 1:
        raise ProtocolError(f"{me}'s input columns differ in length ({sorted(lengths)} rows)")
    session.rows = next(iter(lengths), 0)
    return alignment.alignment_digest(intersection_bytes)


async def agree_rows(session: Session, transport: Transport, digest: str) -> int:
    """Data parties exchange (rows, alignment digest) and check they agree; the dealer learns
    the row count. Returns the agreed row count."""
    me = session.me
    if session.is_dealer:
        raw = await transport.recv(session.label_holder, STEP_ROWS, "rows")
        session.rows = int(loads(raw)["rows"])
        return session.rows
    others = [p for p in session.data_parties if p != me]
    message = canonical_json({"rows": session.rows, "alignment": digest})
    sends = [transport.send(p, STEP_ROWS, "rows", message) for p in others]
    if session.dealer and me == session.label_holder and session.dealer in session.parties:
        sends.append(transport.send(session.dealer, STEP_ROWS, "rows", message))
    await asyncio.gather(*sends)
    seen = {me: (session.rows, digest)}
    for peer in others:
        try:
            got = loads(await transport.recv(peer, STEP_ROWS, "rows"))
            seen[peer] = (int(got["rows"]), str(got["alignment"]))
        except (EncodingError, KeyError, TypeError, ValueError):
            raise ProtocolError(f"{peer} sent a malformed row count") from None
    if len({v for v in seen.values()}) > 1:
        listing = ", ".join(
            f"{p}: {n} rows aligned by {d[:19]}" for p, (n, d) in sorted(seen.items())
        )
        raise ProtocolError(
            f"the data parties' rows are not aligned alike ({listing}); align every data party "
            "by the intersection of one PSI job (`alliance job request --protocol psi`)"
        )
    return session.rows


class GuardedProtocol:
    """A modelling protocol whose body, `_run`, runs under `guard` (its ProtocolError aborts
    every party)."""

    name: str

    async def run(self, job: JobContext, local_inputs: LocalInputs, transport: Transport
                  ) -> ProtocolResult:
        return await guard(transport, job, self._run(job, local_inputs, transport))

    async def _run(self, job: JobContext, local_inputs: LocalInputs, transport: Transport
                   ) -> ProtocolResult:
        raise NotImplementedError


async def guard(transport: Transport, job: JobContext, work: Awaitable[T]) -> T:
    """Run a protocol body; a ProtocolError here aborts every party. The peers hear only the
    failure's public code (node/failures.py); this party keeps the whole reason."""
    me = transport.party
    try:
        return await work
    except ProtocolAborted:
        raise
    except ProtocolError as exc:
        own = {str(ref) for ref in job.inputs if ref.org == me}
        await transport.abort(public_abort_reason(exc, me, own))
        raise ProtocolAborted(f"{me}: {exc}", me) from exc
