"""`binning`: each party bins its own columns; WOE/IV from the label holder's labels, which never
leave it.

Security model: semi-honest parties, a non-colluding dealer (crossprod.py). Who learns what:
- a feature owner F: its own bins (it chooses them on its own rows) and their per-bin event and
  non-event counts (hence WOE and IV); for `chimerge` and `tree`, the counts of the fine bins it
  merges (a tree's Gini splits of fine bins need nothing else, so it runs on the same counts). It
  also learns the number of rows and of events. Residual leakage, stated honestly: each bin's
  event count is one linear equation in the label vector y (B y = events), and F's equations over
  all its columns together can be solved for y when they are nearly as many as the rows (12
  columns x 64 bins on 400 rows recovered every label by least squares). So the label holder
  refuses (ProtocolError, before it sends anything) when F's bins over all its columns exceed
  rows / ROWS_PER_BIN (a tenth of the rows): F then has at most n/10 equations on n unknown
  labels, leaving an affine space of dimension >= 0.9 n in which y can lie; with bins of at least
  `min_bin_rows` (never below MIN_BIN_ROWS_FLOOR, checked by the schema at the contract and at
  every node) no equation is about fewer rows. What remains is what any WOE table says: the
  label rate of each bin; a pure bin (no events, or all events) tells F the label of each of its
  rows, and those rows then drop out of F's other equations; F's prior knowledge of particular
  rows is not modelled. The bound is on the equations, not a proof that no label can be
  inferred: a test measures least squares at the bound recovering no more than a guess.
- the label holder L: nothing about the other parties' columns (it sees only masked matrices and
  each party's number of bins per column), apart from the IVs if it is a recipient of `iv`; it
  bins its own columns in the clear.
- the dealer: the row count and each feature's number of bins.
- recipients of `iv`: the IV of every feature, nothing else.
How: for a feature owner F != label holder L, F's bin-indicator matrix B (bins x rows, 0/1) times
L's label vector y gives the per-bin event counts; that product of two parties' private data runs
as crossprod.py's dealer-assisted matrix-vector product (exact integers in Z_2^32), opened to F.
Traffic: F -> L the masked matrix (4 bytes per bin per row); L -> F one masked label vector per F.

Parameters (params.BinningParams): label, method (quantile | width | chimerge | tree), bins,
init_bins (the fine bins of chimerge and tree), min_bin_rows (no bin smaller: small numeric bins
merge with a neighbour, a rarer category is refused; it bounds what a bin's event count says
about single rows; a tree's leaves have at least as many), ids / normalize (alignment), recipe
(fill/clip applied before binning).
Inputs: the label column and any columns of any parties; every non-label, non-id input is binned.
Outputs: `bins.<org>` to org alone: its features' bin tables (tables.py JSON: breaks or
categories, counts, events, non-events, WOE, bin IV, IV); `iv` to any parties: canonical JSON
{"iv": {feature: "<decimal>"}} over all features, identical at every recipient.
"""

from __future__ import annotations

import asyncio

import numpy as np

from alliance.canonical import canonical_json, loads
from node.errors import InputValueError, ProtocolError
from node.mpc.modelling import binning, crossprod, preprocessing, prg, session
from node.mpc.modelling.params import BinningParams, parse
from node.mpc.modelling.tables import BinTable, encode_tables, num
from node.mpc.protocol import JobContext, LocalInputs, ProtocolResult
from node.mpc.transport import Transport

NAME = "binning"
STEP_SHAPES = "binning.shapes"
STEP_DEALER = "binning.dealer"
STEP_LABEL = "binning.label"
STEP_MATRIX = "binning.matrix"
STEP_SHARE = "binning.share"
STEP_IV = "binning.iv"
STEP_DONE = "binning.done"
MAX_CATEGORIES = 256
ROWS_PER_BIN = 10
"""A feature owner's bins over all its columns may number at most rows / ROWS_PER_BIN: the event
counts opened to it are that many linear equations in the labels (see the module docstring)."""


SUPERVISED = ("chimerge", "tree")
"""Methods that merge quantile fine bins (init_bins) by their event counts."""


def bins_problem(owner: str, widths: list[int], rows: int) -> str | None:
    """Why the label holder must not open `widths` bins' event counts to `owner`, or None."""
    total = sum(widths)
    allowed = rows // ROWS_PER_BIN
    if total <= allowed:
        return None
    return (
        f"{owner}'s {len(widths)} binned column(s) have {total} bins in all, above rows/"
        f"{ROWS_PER_BIN} = {allowed} for {rows} rows: that many per-bin event counts would let "
        f"{owner} solve for the labels; request the job again with fewer bins (--param bins=N, "
        "init_bins for chimerge and tree) or fewer of its columns"
    )


def plan(key: str, column: np.ndarray, params: BinningParams) -> tuple[BinTable, np.ndarray]:
    """The bins (fine bins, for chimerge and tree) of one column and each row's bin (events
    still unknown)."""
    if not binning.is_numeric(column):
        cats = binning.categories(column)
        if len(cats) > MAX_CATEGORIES:
            raise InputValueError(
                f"{key} has {len(cats)} categories; binning takes at most {MAX_CATEGORIES} (each "
                "is a bin): group them first, or declare it numeric in the recipe",
                input_ref=key,
            )
        index = binning.assign_categories(column, cats)
        counts = np.bincount(index, minlength=len(cats))
        if counts.min(initial=params.min_bin_rows) < params.min_bin_rows:
            rare = cats[int(np.argmin(counts))]
            raise InputValueError(
                f"{key} has a category of {int(counts.min())} rows ({rare!r}), below "
                f"min_bin_rows={params.min_bin_rows}: its event count would all but reveal those "
                "rows' labels; group rare categories first (or request a smaller min_bin_rows)",
                input_ref=key,
            )
        table = BinTable(key, "categorical", [], cats, False, [], [])
    else:
        values = np.asarray(column, dtype=np.float64)
        k = params.init_bins if params.method in SUPERVISED else params.bins
        method = "quantile" if params.method in SUPERVISED else params.method
        breaks = binning.drop_empty(values, binning.numeric_breaks(values, method, k))
        breaks = binning.merge_small(values, breaks, params.min_bin_rows)
        index = binning.assign(values, breaks)
        missing = bool(np.isnan(values).any())
        nan_rows = int(np.isnan(values).sum())
        if 0 < nan_rows < params.min_bin_rows:
            raise InputValueError(
                f"{key} has {nan_rows} missing values, below min_bin_rows={params.min_bin_rows} "
                "for a bin of their own; fill them in the job's recipe",
                input_ref=key,
            )
        table = BinTable(key, "numeric", [float(b) for b in breaks], [], missing, [], [])
    width = len(table.categories) if table.kind == "categorical" else (
        len(table.breaks) + 1 + int(table.missing))
    table.counts = np.bincount(index, minlength=width).astype(np.int64).tolist()
    return table, index


def finish(table: BinTable, events: np.ndarray, params: BinningParams) -> BinTable:
    """Fill in the event counts; chimerge and tree merge the numeric fine bins now."""
    table.events = [int(e) for e in events]
    if params.method in SUPERVISED and table.kind == "numeric":
        k = len(table.breaks) + 1
        fine = (np.array(table.breaks), np.array(table.events[:k]), np.array(table.counts[:k]))
        if params.method == "chimerge":
            breaks, ev, tot = binning.chimerge(*fine, params.bins)
        else:
            breaks, ev, tot = binning.tree_merge(*fine, params.bins, params.min_bin_rows)
        table.breaks = breaks.tolist()
        table.events = [*ev.tolist(), *table.events[k:]]
        table.counts = [*tot.tolist(), *table.counts[k:]]
    return table


RING = np.uint32
"""Counts below 2^31 (rows are), so the products run in Z_2^32: 4 bytes per bin per row."""


def masked_indicator(index: np.ndarray, u: np.ndarray) -> np.ndarray:
    """E = B - U for the bin-indicator matrix B (bins x rows, 0/1) without building B."""
    e = np.negative(u)
    e[index, np.arange(len(index))] += 1
    return e


class BinningProtocol(session.GuardedProtocol):
    """The `binning` protocol (see the module docstring)."""

    name = NAME

    async def _run(self, job: JobContext, local_inputs: LocalInputs, transport: Transport
                   ) -> ProtocolResult:
        params = parse(BinningParams, NAME, job.parameters)
        ses = session.roles(job, transport, params.label, need_dealer=True)
        if ses.is_dealer:
            await session.agree_rows(ses, transport, "")
            await _deal(ses, transport)
            # It stays until the label holder has served every owner, so aborts reach it.
            if ses.feature_owners:
                await transport.recv(ses.label_holder, STEP_DONE, "done")
            return ProtocolResult(summary={"role": "dealer", "rows": ses.rows})
        if ses.me not in ses.data_parties:  # a recipient of `iv` holding no data
            return await _outputs(job, ses, transport, [], params)
        digest = session.local_columns(ses, job, local_inputs, params.label, params.ids,
                                       params.normalize)
        await session.agree_rows(ses, transport, digest)
        recipe = preprocessing.parse_recipe(params.recipe)
        planned: list[tuple[BinTable, np.ndarray]] = []
        for key, column in ses.columns.items():
            step = recipe.for_column(key)
            # a categorical column is binned by its categories: a one_hot step does not apply
            values = (column if step is None or step.one_hot
                      else preprocessing.apply_step(step, column)[""])
            planned.append(plan(key, values, params))
        if ses.me == ses.label_holder:
            assert ses.label is not None
            tables = [finish(t, np.bincount(i, weights=ses.label, minlength=len(t.counts)),
                             params) for t, i in planned]
            await _serve_label(ses, transport)
        else:
            tables = await _own_events(ses, transport, planned, params)
        return await _outputs(job, ses, transport, tables, params)


async def _own_events(ses: session.Session, transport: Transport,
                      planned: list[tuple[BinTable, np.ndarray]], params: BinningParams
                      ) -> list[BinTable]:
    """A feature owner's side: per-bin event counts of its features via the dealer's triples."""
    label, dealer = ses.label_holder, ses.dealer
    assert dealer is not None
    widths = [len(t.counts) for t, _ in planned]
    shapes = canonical_json({"widths": widths})
    await asyncio.gather(transport.send(dealer, STEP_SHAPES, "widths", shapes),
                         transport.send(label, STEP_SHAPES, "widths", shapes))
    seeds = await transport.recv(dealer, STEP_DEALER, "owner")
    u_seed, c_seed = seeds[:prg.SEED_BYTES], seeds[prg.SEED_BYTES:]
    d = await transport.recv_array(label, STEP_LABEL, "d")
    if d.dtype != RING or d.shape != (ses.rows,):
        raise ProtocolError(f"{label} sent a masked label of {d.dtype}{list(d.shape)}")
    c_owner = prg.words32(c_seed, sum(widths))
    mine = np.zeros(sum(widths), dtype=RING)
    at = 0
    for f, ((_table, index), width) in enumerate(zip(planned, widths, strict=True)):
        u = crossprod.expand(prg.derive(u_seed, f"u{f}"), width, ses.rows, RING)
        await transport.send_array(label, STEP_MATRIX, f"e{f}", masked_indicator(index, u))
        mine[at:at + width] = crossprod.owner_share(u, d, c_owner[at:at + width])
        del u
        at += width
    theirs = await transport.recv_array(label, STEP_SHARE, "share")
    if theirs.dtype != RING or theirs.shape != mine.shape:
        raise ProtocolError(f"{label} sent a share of {theirs.dtype}{list(theirs.shape)}")
    events = (mine + theirs).view(np.int32).astype(np.int64)
    tables, at = [], 0
    for (table, _), width in zip(planned, widths, strict=True):
        ev = events[at:at + width]
        if (ev < 0).any() or (ev > np.array(table.counts)).any():
            raise ProtocolError("the per-bin event counts came out inconsistent (a party deviated)")
        tables.append(finish(table, ev, params))
        at += width
    return tables


async def _serve_label(ses: session.Session, transport: Transport) -> None:
    """The label holder's side for every other feature owner: masked labels out, shares back."""
    assert ses.label is not None
    y = ses.label.astype(RING)

    async def serve(owner: str) -> None:
        widths = loads(await transport.recv(owner, STEP_SHAPES, "widths"))["widths"]
        if not isinstance(widths, list) or not all(
                isinstance(w, int) and 0 < w <= ses.rows for w in widths):
            raise ProtocolError(f"{owner} sent malformed bin widths")
        problem = bins_problem(owner, widths, ses.rows)
        if problem is not None:
            raise ProtocolError(problem)
        raw = await transport.recv(ses.dealer or "", STEP_DEALER, f"holder.{owner}")
        v = prg.words32(raw[:prg.SEED_BYTES], ses.rows)
        c_holder = np.frombuffer(raw[prg.SEED_BYTES:], dtype=RING)
        if len(c_holder) != sum(widths):
            raise ProtocolError(f"the dealer sent {len(c_holder)} words for {owner}'s bins")
        await transport.send_array(owner, STEP_LABEL, "d", y - v)
        share = np.zeros(sum(widths), dtype=RING)
        at = 0
        for f, width in enumerate(widths):
            e = await transport.recv_array(owner, STEP_MATRIX, f"e{f}")
            if e.dtype != RING or e.shape != (width, ses.rows):
                raise ProtocolError(f"{owner} sent a matrix of {e.dtype}{list(e.shape)}")
            share[at:at + width] = crossprod.holder_share(e, y, c_holder[at:at + width])
            at += width
        await transport.send_array(owner, STEP_SHARE, "share", share)

    await asyncio.gather(*(serve(owner) for owner in ses.feature_owners))
    if ses.dealer in ses.parties and ses.feature_owners:
        await transport.send(ses.dealer or "", STEP_DONE, "done", b"")


async def _deal(ses: session.Session, transport: Transport) -> None:
    """The dealer: per feature owner, U and c_O seeds to it, v and c_H to the label holder."""

    async def deal(owner: str) -> None:
        widths = loads(await transport.recv(owner, STEP_SHAPES, "widths"))["widths"]
        u_seed, c_seed, v_seed = prg.new_seed(), prg.new_seed(), prg.new_seed()
        await transport.send(owner, STEP_DEALER, "owner", u_seed + c_seed)
        v = prg.words32(v_seed, ses.rows)
        c_owner = prg.words32(c_seed, sum(widths))
        c_holder = np.zeros(sum(widths), dtype=RING)
        at = 0
        for f, width in enumerate(widths):
            u = crossprod.expand(prg.derive(u_seed, f"u{f}"), width, ses.rows, RING)
            c_holder[at:at + width] = crossprod.dealer_share(u, v, c_owner[at:at + width])
            at += width
        await transport.send(ses.label_holder, STEP_DEALER, f"holder.{owner}",
                             v_seed + c_holder.tobytes())

    await asyncio.gather(*(deal(owner) for owner in ses.feature_owners))


async def _outputs(job: JobContext, ses: session.Session, transport: Transport,
                   tables: list[BinTable], params: BinningParams) -> ProtocolResult:
    me = ses.me
    outputs: dict[str, bytes] = {}
    if f"bins.{me}" in job.outputs:
        outputs[f"bins.{me}"] = encode_tables(tables)
    recipients = job.recipients("iv")
    ivs = {t.feature: num(t.stats().iv) for t in tables}
    message = canonical_json({"iv": ivs})
    await asyncio.gather(*(transport.send(r, STEP_IV, "iv", message)
                           for r in recipients if r != me))
    if me in recipients:
        every = dict(ivs)
        for peer in ses.data_parties:
            if peer != me:
                every.update(loads(await transport.recv(peer, STEP_IV, "iv"))["iv"])
        outputs["iv"] = canonical_json({"iv": every})
    summary: dict[str, str | int] = {"role": "label" if me == ses.label_holder else "features",
                                     "features": len(tables), "rows": ses.rows,
                                     "method": params.method}
    return ProtocolResult(outputs=outputs, summary=summary)
