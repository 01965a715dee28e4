"""`gbdt_train`: vertical gradient-boosted trees (SecureBoost-class), the label at one party.

Roles: the label holder is the active party A; every other input owner is a passive party P.
Each party bins its own features (a binning job's bins, or quantiles of its own rows); bins never
leave their owner. Per tree, A computes every row's gradient and hessian (fixed point, 2^-s,
zero outside the tree's row sample and on validation rows) and shares them with each P through
the secure selection primitive (selection.py, one selector pair per (A, P), set up once): for
any node both hold additive shares of the per-(feature, bin) sums of g and h over the node's
rows (g and h packed into one 64-bit word when the public shape bounds their sums to 31 bits,
trees.packs: half the traffic and sums, the same integers). Trees grow level by level: for each
sibling pair only the child with fewer rows is summed,
the other is its parent's histogram minus it; P sends its share of its features' histograms to
A, who adds its own share, finds the best split over all parties' features (trees.py), and tells
each P which nodes split and by whose feature, and P its own splits' (feature, bin). The owner
of each split computes the rows going left and sends that partition to every other party. A
computes the leaf values, updates the margins of every row, and decides on early stopping (the
validation loss on the public validation split).

Security model: semi-honest parties, SecureBoost's leakage, stated as such. No value a party must
not learn crosses the wire in the clear: gradients reach P only inside the selection primitive.
- A learns: the per-bin sums of g and h of every P's features at every node it splits (hence
  each P feature's bin counts of sampled rows when hessians are constant), which feature and bin
  of P's each chosen split uses (not its threshold value: the bin edges stay with P), and each
  split's row partition (which rows of a node go left).
- P learns: the row partition of every node of every tree (the tree shapes and which rows share
  a leaf), which party owns each split, the number of trees kept, and, for its own features
  only, their importance (total gain, a function of gradient sums, and the split count). It
  learns nothing else about labels, gradients, leaf values or the other parties' features.
- Everyone: the row count, every party's feature and bin counts, the hyper-parameters and the
  public samples drawn from `seed`.
Not covered: a party that deviates (e.g. sends a wrong partition); collusion of A and a P adds
nothing beyond their union.

Outputs: `model.<org>` to each owner alone (model.py): A's part holds the trees, owners and leaf
values; P's part only its own splits and bins. An abort anywhere ends the job for every party
with no part delivered. Parameters: alliance/protocols/gbdt.py (GbdtTrainParams).
"""

from __future__ import annotations

import asyncio
import importlib
import time
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import numpy as np

from alliance.canonical import canonical_json, loads
from alliance.errors import EncodingError
from node.errors import ProtocolError
from node.failpoint import failpoint
from node.mpc.modelling import features, logistic, preprocessing, session
from node.mpc.modelling.gbdt import binned
from node.mpc.modelling.gbdt import trees as T
from node.mpc.modelling.gbdt.model import ActivePart, PassivePart, SplitNode, Tree
from node.mpc.modelling.gbdt.params import GbdtTrainParams, parse
from node.mpc.modelling.tables import decode_tables
from node.mpc.protocol import JobContext, LocalInputs, ProtocolResult
from node.mpc.transport import Transport

NAME = "gbdt_train"
STEP_SHAPES = "gbdt.shapes"
STEP_SELECT = "gbdt.select"
STEP_HIST = "gbdt.hist"
STEP_DECIDE = "gbdt.decide"
STEP_PART = "gbdt.part"
STEP_NEXT = "gbdt.next"
STEP_END = "gbdt.end"
SELECTION = "node.mpc.modelling.gbdt.selection"


def direct_nodes(frontier: dict[int, np.ndarray], parents: list[int]) -> list[int]:
    """The frontier nodes whose histograms are summed (the root, or the smaller child of each
    split parent); the rest are derived by subtraction. Public: every party knows the sizes."""
    if not parents:
        return sorted(frontier)
    out = []
    for p in parents:
        a, b = T.children(p)
        out.append(T.smaller_child(p, len(frontier[a]), len(frontier[b])))
    return sorted(out)


def _bits(mask: np.ndarray) -> np.ndarray:
    return np.packbits(mask)


def _unbits(packed: np.ndarray, count: int, peer: str) -> np.ndarray:
    if packed.dtype != np.uint8 or packed.shape != ((count + 7) // 8,):
        raise ProtocolError(f"{peer} sent a row partition of {packed.dtype}{list(packed.shape)}")
    return np.unpackbits(packed, count=count).astype(bool)


def _decoded(raw: bytes, peer: str) -> Any:
    try:
        return loads(raw)
    except EncodingError:
        raise ProtocolError(f"{peer} sent a malformed message") from None


@dataclass
class Party:
    """This party's features: names, bins (features x rows, uint8) and its bin count."""

    specs: list[binned.FeatureBins]
    bins_t: np.ndarray

    @property
    def width(self) -> int:
        return max((s.width for s in self.specs), default=1)


@dataclass
class Grown:
    """What the label holder keeps of the trees."""

    trees: list[Tree] = field(default_factory=list)
    gains: list[dict[int, tuple[int, float]]] = field(default_factory=list)
    """Per tree: node -> (feature index over all parties, gain)."""
    losses: list[float] = field(default_factory=list)
    kept: int = 0
    trees_run: int = 0


class GbdtTrainProtocol:
    """The `gbdt_train` protocol (see the module docstring). `selection`: the secure selection
    module (selection.py's interface); the default is the real one."""

    name = NAME

    def __init__(self, selection: ModuleType | None = None) -> None:
        self._selection = selection

    @property
    def selection(self) -> ModuleType:
        if self._selection is None:
            self._selection = importlib.import_module(SELECTION)
        return self._selection

    async def run(self, job: JobContext, local_inputs: LocalInputs, transport: Transport
                  ) -> ProtocolResult:
        with np.errstate(over="ignore"):  # arithmetic in Z_2^64 wraps by design
            return await session.guard(transport, job, self._run(job, local_inputs, transport))

    async def _run(self, job: JobContext, local_inputs: LocalInputs, transport: Transport
                   ) -> ProtocolResult:
        started = _clocks()
        params = parse(GbdtTrainParams, NAME, job.parameters)
        ses = session.roles(job, transport, params.label, need_dealer=False)
        if ses.me not in ses.data_parties:
            return ProtocolResult(summary={"role": "observer"})
        if not ses.feature_owners:
            raise ProtocolError("gbdt_train needs feature columns of a member besides the label "
                                "holder; add them to the job's inputs")
        digest = session.local_columns(ses, job, local_inputs, params.label, params.ids,
                                       params.normalize, params.objective == "logistic")
        await session.agree_rows(ses, transport, digest)
        woe = features.reserved_bytes(local_inputs, features.WOE_KEY)
        specs, bins_t = binned.bin_columns(
            ses.columns, preprocessing.parse_recipe(params.recipe),
            decode_tables(woe) if woe is not None else None, params.max_bin, ses.rows)
        me = Party(specs, bins_t)
        if ses.me == ses.label_holder:
            return await _active(job, ses, transport, params, me, self.selection, started)
        return await _passive(job, ses, transport, params, me, self.selection, started)


# ---- the label holder ---------------------------------------------------------------------


async def _active(job: JobContext, ses: session.Session, transport: Transport,
                  params: GbdtTrainParams, me: Party, selection: ModuleType,
                  started: tuple[float, float]) -> ProtocolResult:
    """`started`: the clocks when the job began here (the setup is from then to the first
    tree)."""
    passives = list(ses.feature_owners)
    shapes: dict[str, tuple[int, int]] = {}
    for p in passives:
        got = _decoded(await transport.recv(p, STEP_SHAPES, "shape"), p)
        try:
            shapes[p] = (int(got["features"]), int(got["bins"]))
        except (KeyError, TypeError, ValueError):
            raise ProtocolError(f"{p} sent a malformed shape") from None
        if not (1 <= shapes[p][0] <= 10_000 and 2 <= shapes[p][1] <= binned.MAX_BINS):
            raise ProtocolError(f"{p} declared {shapes[p][0]} features of {shapes[p][1]} bins")
    selectors = await asyncio.gather(*(
        selection.setup_active(transport, p, ses.rows, shapes[p][0], shapes[p][1], STEP_SELECT)
        for p in passives))
    grown_from = _clocks()
    width = max([me.width, *(b for _, b in shapes.values())])
    blocks = [(ses.me, me.bins_t.shape[0])] + [(p, shapes[p][0]) for p in passives]
    owners = [(org, f) for org, count in blocks for f in range(count)]
    assert ses.label is not None
    y = ses.label.astype(np.float64)
    train, val = logistic.split_rows(ses.rows, params.validation_fraction, params.seed)
    packed = T.packs(params.objective, ses.rows, params.scale_bits)
    base = T.base_margin(params.objective, y[train])
    margin = np.full(ses.rows, base)
    stop = T.EarlyStop(params.patience, [])
    grown = Grown()
    for t in range(params.n_trees):
        if t:
            failpoint(f"gbdt_train.tree{t}")  # fault tests: this party dies mid-training
        weight, allowed = T.tree_sample(params, t, train, ses.rows, len(owners))
        values = T.encoded_gh(params.objective, margin, y, weight, params.scale_bits)
        sent = T.pack(values) if packed else values
        shares = await asyncio.gather(*(s.share_tree(t, sent) for s in selectors))
        tree, gains, leaves = await _grow_active(
            t, ses, transport, params, me, values, dict(zip(passives, shares, strict=True)),
            shapes, width, owners, allowed, packed)
        lv = np.zeros(ses.rows)
        for node, members in leaves.items():
            lv[members] = tree.leaves[node]
        margin = margin + lv
        grown.trees.append(tree)
        grown.gains.append(gains)
        grown.trees_run = t + 1
        done = bool(len(val)) and stop.add(T.loss(params.objective, margin[val], y[val]))
        done = done or t + 1 == params.n_trees
        message = canonical_json({"stop": done})
        await asyncio.gather(*(transport.send(p, STEP_NEXT, str(t), message) for p in passives))
        if done:
            break
    grown.kept = stop.best if len(val) else grown.trees_run
    grown.losses = stop.losses
    importance = _importance(grown, owners)
    await asyncio.gather(*(transport.send(p, STEP_END, "end", canonical_json({
        "trees": grown.kept,
        "importance": [[repr(g), c] for (org, _), (g, c) in zip(owners, importance, strict=True)
                       if org == p]})) for p in passives))
    mine = [imp for (org, _), imp in zip(owners, importance, strict=True) if org == ses.me]
    part = ActivePart(
        job.job_id, ses.me, params.objective, base, [ses.me, *passives], me.specs,
        grown.trees[:grown.kept],
        {s.name: imp for s, imp in zip(me.specs, mine, strict=True)},
        grown.losses, grown.trees_run)
    return _result(job, ses, part.to_bytes(), grown.kept, len(me.specs),
                   (started, grown_from, _clocks()))


async def _grow_active(t: int, ses: session.Session, transport: Transport,
                       params: GbdtTrainParams, me: Party, values: np.ndarray,
                       shares: dict[str, Any], shapes: dict[str, tuple[int, int]], width: int,
                       owners: list[tuple[str, int]], allowed: np.ndarray, packed: bool
                       ) -> tuple[Tree, dict[int, tuple[int, float]], dict[int, np.ndarray]]:
    """One tree, level by level; returns it, its splits' (feature, gain) and each leaf's
    rows."""
    tree, gains = Tree(), {}
    leaves: dict[int, np.ndarray] = {}
    frontier: dict[int, np.ndarray] = {0: np.arange(ses.rows)}
    parents: list[int] = []
    hists: dict[int, np.ndarray] = {}
    for depth in range(params.max_depth + 1):
        if not frontier:
            break
        if depth == params.max_depth:
            for node, members in frontier.items():
                tree.leaves[node] = T.leaf_value(T.node_totals(values, members), params)
                leaves[node] = members
            break
        direct = direct_nodes(frontier, parents)

        def local_sums(nodes: list[int] = direct, rows: dict[int, np.ndarray] = frontier
                       ) -> tuple[dict[int, np.ndarray], dict[str, list[np.ndarray]]]:
            """Own features' histograms and own shares of the others' (while they sum theirs)."""
            own = {n: T.histogram(me.bins_t, values, rows[n], width) for n in nodes}
            return own, {p: [share.node_sums(rows[n]) for n in nodes]
                         for p, share in shares.items()}

        work = asyncio.ensure_future(asyncio.to_thread(local_sums))
        theirs: dict[str, np.ndarray] = {}
        try:
            for p in shares:
                got = await transport.recv_array(p, STEP_HIST, f"{t}.{depth}")
                f_p, b_p = shapes[p]
                if got.dtype != np.uint64 or got.shape != (len(direct), f_p, b_p,
                                                            1 if packed else 2):
                    raise ProtocolError(f"{p} sent histograms of {got.dtype}{list(got.shape)}")
                theirs[p] = got
        finally:
            own, mine = await work
        level: dict[int, np.ndarray] = {}
        for i, n in enumerate(direct):
            blocks = [own[n]]
            for p in shares:
                summed = (theirs[p][i] + mine[p][i]).view(np.int64)
                blocks.append(_pad(T.unpack(summed) if packed else summed, width))
            level[n] = np.concatenate(blocks, axis=0)
        for p in parents:
            a, b = T.children(p)
            small = a if a in level else b
            level[b if small == a else a] = hists[p] - level[small]
        splits: dict[int, tuple[str, int, int]] = {}
        for node in sorted(frontier):
            split = T.best_split(level[node], allowed, params)
            if split is None:
                tree.leaves[node] = T.leaf_value(T.node_totals(values, frontier[node]), params)
                leaves[node] = frontier[node]
                continue
            org, local = owners[split.feature]
            splits[node] = (org, local, split.bin)
            gains[node] = (split.feature, split.gain)
            tree.splits[node] = SplitNode(org, local if org == ses.me else -1,
                                          split.bin if org == ses.me else -1)
        hists = {n: level[n] for n in splits}
        await asyncio.gather(*(transport.send(p, STEP_DECIDE, f"{t}.{depth}", canonical_json({
            "splits": [[n, org] for n, (org, _, _) in sorted(splits.items())],
            "mine": [[n, f, b] for n, (org, f, b) in sorted(splits.items()) if org == p],
        })) for p in shares))
        frontier, parents = await _partition(t, ses, transport, me, frontier, {
            n: (org, f, b) for n, (org, f, b) in splits.items()})
    return tree, gains, leaves


def _pad(hist: np.ndarray, width: int) -> np.ndarray:
    if hist.shape[1] == width:
        return hist
    out = np.zeros((hist.shape[0], width, hist.shape[2]), dtype=hist.dtype)
    out[:, :hist.shape[1]] = hist
    return out


async def _partition(t: int, ses: session.Session, transport: Transport, me: Party,
                     frontier: dict[int, np.ndarray], splits: dict[int, tuple[str, int, int]]
                     ) -> tuple[dict[int, np.ndarray], list[int]]:
    """Each split's owner sends the rows going left to every other data party; all parties
    return the next frontier (children's rows) and its parents, in node order."""
    others = [p for p in ses.data_parties if p != ses.me]
    sends = []
    left: dict[int, np.ndarray] = {}
    for node, (org, f, b) in sorted(splits.items()):
        if org == ses.me:
            mask = me.bins_t[f, frontier[node]] <= b
            left[node] = mask
            sends += [transport.send_array(p, STEP_PART, f"{t}.{node}", _bits(mask))
                      for p in others]
    await asyncio.gather(*sends)
    for node, (org, _, _) in sorted(splits.items()):
        if org != ses.me:
            got = await transport.recv_array(org, STEP_PART, f"{t}.{node}")
            left[node] = _unbits(got, len(frontier[node]), org)
    nxt: dict[int, np.ndarray] = {}
    for node in sorted(splits):
        a, b = T.children(node)
        members = frontier[node]
        nxt[a], nxt[b] = members[left[node]], members[~left[node]]
    return nxt, sorted(splits)


def _importance(grown: Grown, owners: list[tuple[str, int]]) -> list[tuple[float, int]]:
    """(total gain, split count) per feature over the kept trees, in `owners` order."""
    out = [(0.0, 0)] * len(owners)
    for gains in grown.gains[:grown.kept]:
        for _node, (at, gain) in sorted(gains.items()):
            g, c = out[at]
            out[at] = (g + gain, c + 1)
    return out


# ---- a feature owner -------------------------------------------------------------------------


async def _passive(job: JobContext, ses: session.Session, transport: Transport,
                   params: GbdtTrainParams, me: Party, selection: ModuleType,
                   started: tuple[float, float]) -> ProtocolResult:
    active = ses.label_holder
    if not me.specs:
        raise ProtocolError(f"{ses.me} holds no feature column of this job")
    await transport.send(active, STEP_SHAPES, "shape", canonical_json(
        {"features": len(me.specs), "bins": me.width}))
    selector = await selection.setup_passive(transport, active, np.ascontiguousarray(me.bins_t.T),
                                             me.width, STEP_SELECT)
    grown_from = _clocks()
    mine: dict[tuple[int, int], tuple[int, int]] = {}
    trees_run = 0
    m = 1 if T.packs(params.objective, ses.rows, params.scale_bits) else 2
    for t in range(params.n_trees):
        if t:
            failpoint(f"gbdt_train.tree{t}")  # fault tests: this party dies mid-training
        shares = await selector.share_tree(t, m)
        await _grow_passive(t, ses, transport, params, me, shares, mine)
        trees_run = t + 1
        if _decoded(await transport.recv(active, STEP_NEXT, str(t)), active).get("stop"):
            break
    end = _decoded(await transport.recv(active, STEP_END, "end"), active)
    try:
        kept = int(end["trees"])
        importance = [(float(g), int(c)) for g, c in end["importance"]]
    except (KeyError, TypeError, ValueError):
        raise ProtocolError(f"{active} sent a malformed end of training") from None
    if not 0 <= kept <= trees_run or len(importance) != len(me.specs):
        raise ProtocolError(f"{active} sent an inconsistent end of training")
    part = PassivePart(job.job_id, ses.me, active, me.specs,
                       {k: v for k, v in mine.items() if k[0] < kept},
                       {s.name: imp for s, imp in zip(me.specs, importance, strict=True)})
    return _result(job, ses, part.to_bytes(), kept, len(me.specs),
                   (started, grown_from, _clocks()))


async def _grow_passive(t: int, ses: session.Session, transport: Transport,
                        params: GbdtTrainParams, me: Party, shares: Any,
                        mine: dict[tuple[int, int], tuple[int, int]]) -> None:
    active = ses.label_holder
    frontier: dict[int, np.ndarray] = {0: np.arange(ses.rows)}
    parents: list[int] = []
    for depth in range(params.max_depth):
        if not frontier:
            return
        direct = direct_nodes(frontier, parents)
        sums = await asyncio.to_thread(_stacked_sums, shares, [frontier[n] for n in direct])
        await transport.send_array(active, STEP_HIST, f"{t}.{depth}", sums)
        got = _decoded(await transport.recv(active, STEP_DECIDE, f"{t}.{depth}"), active)
        splits: dict[int, tuple[str, int, int]] = {}
        try:
            for node, org in got["splits"]:
                splits[int(node)] = (str(org), -1, -1)
            for node, f, b in got["mine"]:
                splits[int(node)] = (ses.me, int(f), int(b))
        except (KeyError, TypeError, ValueError):
            raise ProtocolError(f"{active} sent malformed split decisions") from None
        for node, (org, f, b) in splits.items():
            bad_node = node not in frontier or org not in ses.data_parties or (org == ses.me and (
                not 0 <= f < len(me.specs) or not 0 <= b < me.width))
            if bad_node or (org == ses.me and f < 0):
                raise ProtocolError(f"{active} sent an impossible split decision")
            if org == ses.me:
                mine[(t, node)] = (f, b)
        frontier, parents = await _partition(t, ses, transport, me, frontier, splits)


def _stacked_sums(shares: Any, nodes: list[np.ndarray]) -> np.ndarray:
    return np.stack([shares.node_sums(rows) for rows in nodes])


def _clocks() -> tuple[float, float]:
    """(wall, this process's CPU) seconds: a shared machine stretches the first, not the
    second."""
    return time.perf_counter(), time.process_time()


def _result(job: JobContext, ses: session.Session, part: bytes, kept: int, width: int,
            clocks: tuple[tuple[float, float], ...]) -> ProtocolResult:
    name = f"model.{ses.me}"
    outputs = {name: part} if name in job.outputs else {}
    (w0, c0), (w1, c1), (w2, c2) = clocks
    return ProtocolResult(outputs=outputs, summary={
        "role": "label" if ses.me == ses.label_holder else "features", "rows": ses.rows,
        "features": width, "trees": kept,
        "setup_ms": round((w1 - w0) * 1000), "trees_ms": round((w2 - w1) * 1000),
        "setup_cpu_ms": round((c1 - c0) * 1000), "trees_cpu_ms": round((c2 - c1) * 1000)})
