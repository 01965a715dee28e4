"""`lr_train`: vertical logistic regression by mini-batch SGD; 2..N data parties, the label at one.

Scheme (measured in bench/fl.py): features and coefficients stay with their owners in the clear;
the residual of each mini-batch is additively shared over Z_2^64 between two computing parties,
the label holder L and the first other feature owner P; each party's gradient X_i^T e comes out
of crossprod.py's dealer-assisted matrix-vector products and is opened to that party alone.
- Each party i computes its partial score u_i = X_i w_i in the clear (L adds the intercept).
- With the `t1` sigmoid (logistic.py) the residual e = 0.5 + z/4 - y is linear in the u_i:
  P holds e_P = enc(u_P/4) - r_P, L holds e_L = enc(0.5 + u_L/4 - y) + r_P (+ the masks of the
  other owners O_j, whose enc(u_j/4) - r_j reach P). r_* come from pairwise seeds.
- For each owner i and each computing party h != i: X_i^T e_h by the dealer's matrix triple (E_ih
  = X_i - U_ih sent once, reused by every batch with fresh vector masks). i adds its local
  X_i^T e_i when it holds a share, opens its gradient, updates its own coefficients (L2 and the
  learning-rate schedule in the clear). L learns the intercept's gradient, sum(e).
- Validation (early stopping): after each epoch the mean squared t1 residual on the public
  validation split, from a dealer-assisted inner product, opened to L, who tells every party to go
  on, keep a new best, or stop (`patience` epochs without an improvement of `tol`).

Security model: semi-honest parties and a non-colluding dealer. What each party learns: its own
gradient of every mini-batch, as in FATE's Hetero-LR (weaker than keeping the coefficients shared,
as SecretFlow's SS-SGD does); every actual batch (checked on the schedule, not on the parameter)
has at least twice the largest party's feature count, so a gradient cannot be solved for the rows'
residuals, and the validation split is empty or has at least `batch_size` rows. L also
learns the intercept gradient (which, with its own rows, tells it the batch's sum of the other
parties' partial scores) and the validation loss per epoch. Masked matrices, masked vectors and
shares are uniform to whoever receives them. The dealer learns the shapes. Public: row count,
feature counts, the hyper-parameters and the batch schedule (seeded by the job's `seed`). Not
covered: a party that deviates; a dealer that colludes.

Class weights (`class_weight` = "W0,W1"): the residual of each row is weighted by its class,
W*e = W0 e + (W1 - W0) y*e, with the weights as integers at 2^-8 (scale f + 8). y*e_L is local at
L; y*e_P uses an element-wise product triple from the dealer: L sends P y - alpha for every batch
at setup (uniform), P puts e_P - beta on its batch message to L (uniform), so each batch still
costs one message each way (L waits for P's before sending its own). The validation loss that
drives early stopping stays unweighted.

Outputs: `model.<org>` to org alone (logistic.ModelPart JSON: its features' coefficients; L's
also holds the intercept, the validation losses and the best epoch). An abort anywhere ends the
job for every party with no model part delivered.
"""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from alliance.canonical import canonical_json, loads
from node.errors import InputValueError, ProtocolError
from node.failpoint import failpoint
from node.mpc.modelling import features, logistic, preprocessing, prg, session
from node.mpc.modelling.params import LrTrainParams, parse
from node.mpc.protocol import JobContext, LocalInputs, ProtocolResult
from node.mpc.transport import Transport

NAME = "lr_train"
STEP_SHAPES = "lr.shapes"
STEP_DEALER = "lr.dealer"
STEP_MASKED = "lr.masked"
STEP_MASKS = "lr.masks"
STEP_SHARE = "lr.share"
STEP_CROSS = "lr.cross"
STEP_VAL = "lr.val"
STEP_DECIDE = "lr.decide"
STEP_PROGRESS = "lr.progress"
STEP_DELTA = "lr.delta"
WEIGHT_BITS = 8
"""Class weights are carried as integers w * 2^8: the weighted residual is at scale f + 8."""


@dataclass
class Plan:
    """The public shape of the training run, the same at every party and the dealer."""

    rows: int
    train: np.ndarray
    val: np.ndarray
    batches: list[logistic.Batch]
    widths: dict[str, int]
    label: str
    partner: str | None
    owners: tuple[str, ...]

    @property
    def holders(self) -> tuple[str, ...]:
        return (self.label,) if self.partner is None else (self.label, self.partner)

    @property
    def crosses(self) -> list[tuple[str, str]]:
        return [(i, h) for i in self.owners for h in self.holders if i != h]

    @functools.cached_property
    def batch_max(self) -> int:
        return max((b.stop - b.start for b in self.batches), default=0)


def make_plan(params: LrTrainParams, ses: session.Session, widths: dict[str, int]) -> Plan:
    """The run's public shape; ProtocolError (coded protocol_error) when a batch or the validation
    split is so small that what is opened from it would reveal rows: the smallest actual batch
    (not the batch_size parameter: with fewer training rows the one batch is all of them) must
    have at least twice the widest party's feature count, and the validation split is empty or
    has at least batch_size rows (its loss is opened to the label holder every epoch)."""
    widest = max(widths.values(), default=0)
    train, val = logistic.split_rows(ses.rows, params.validation_fraction, params.seed)
    batches = logistic.schedule(len(train), params.batch_size, params.epochs, params.seed)
    smallest = min((b.stop - b.start for b in batches), default=0)
    if params.batch_size < 2 * widest or smallest < 2 * widest:
        raise ProtocolError(
            f"the smallest mini-batch has {min(smallest, params.batch_size)} rows, below twice "
            f"the largest party's feature count ({widest}): a party's gradient over so few rows "
            f"would reveal their residuals (hence labels); request the job again on at least "
            f"{2 * widest} training rows with --param batch_size={2 * widest} or more"
        )
    if 0 < len(val) < params.batch_size:
        raise ProtocolError(
            f"the validation split has {len(val)} rows, fewer than batch_size "
            f"{params.batch_size}: its loss, opened to the label holder each epoch, is an "
            "aggregate of too few rows' residuals; request the job again with --param "
            "validation_fraction=0 or a fraction leaving at least batch_size rows"
        )
    partner = ses.feature_owners[0] if ses.feature_owners else None
    return Plan(ses.rows, train, val, batches, widths, ses.label_holder, partner,
                ses.data_parties)


@dataclass
class Cross:
    """This party's material for one (owner, holder) product."""

    u: np.ndarray | None = None  # owner: U (m x n_train)
    c_seed: bytes = b""  # owner
    e: np.ndarray | None = None  # holder: E = X - U
    v_seed: bytes = b""  # holder
    c_holder: np.ndarray | None = None  # holder: (batches, m)


@dataclass
class State:
    plan: Plan
    me: str
    xt: np.ndarray  # this party's encoded training features, m x n_train
    x_train: np.ndarray
    x_val: np.ndarray
    y_train: np.ndarray | None
    y_val: np.ndarray | None
    w: np.ndarray
    b0: float = 0.0
    crosses: dict[tuple[str, str], Cross] = field(default_factory=dict)
    mask_seeds: dict[str, bytes] = field(default_factory=dict)  # owner -> seed shared with L
    dot: tuple[bytes, bytes] | None = None  # (alpha|beta seed, gamma seed) of P / L
    gamma_label: np.ndarray | None = None
    dealer: str | None = None
    epoch: int = 0
    streams: dict[bytes, np.ndarray] = field(default_factory=dict)
    weights: tuple[int, int] | None = None  # (W0, W1 - W0) at WEIGHT_BITS, None: unweighted
    alpha: np.ndarray | None = None  # L: the product triple's alpha, (batches, bmax)
    gamma: np.ndarray | None = None  # L, P: their share of alpha * beta
    beta: np.ndarray | None = None  # P
    delta: np.ndarray | None = None  # P: y - alpha per batch, from L


class LrTrainProtocol(session.GuardedProtocol):
    """The `lr_train` protocol (see the module docstring)."""

    name = NAME

    async def _run(self, job: JobContext, local_inputs: LocalInputs, transport: Transport
                   ) -> ProtocolResult:
        with np.errstate(over="ignore"):  # arithmetic in Z_2^64 wraps by design
            return await self._body(job, local_inputs, transport)

    async def _body(self, job: JobContext, local_inputs: LocalInputs, transport: Transport
                    ) -> ProtocolResult:
        params = parse(LrTrainParams, NAME, job.parameters)
        ses = session.roles(job, transport, params.label, need_dealer=True)
        if ses.is_dealer:
            await session.agree_rows(ses, transport, "")
            widths = await _gather_widths(ses, transport, None)
            plan = make_plan(params, ses, widths)
            await _deal(plan, transport, params)
            if params.weights() is not None and plan.partner is not None:
                await _deal_product(plan, transport)
            epochs = await _follow(ses, transport, params)
            return ProtocolResult(summary={"role": "dealer", "rows": ses.rows, "epochs": epochs})
        if ses.me not in ses.data_parties:  # no data, no output: nothing to do
            return ProtocolResult(summary={"role": "observer"})
        digest = session.local_columns(ses, job, local_inputs, params.label, params.ids,
                                       params.normalize)
        await session.agree_rows(ses, transport, digest)
        recipe = preprocessing.parse_recipe(params.recipe)
        feats = features.build(ses.columns, recipe, local_inputs)
        x = features.matrix(feats, ses.rows)
        _check_range(feats, params)
        widths = await _gather_widths(ses, transport, x.shape[1])
        plan = make_plan(params, ses, widths)
        state = State(
            plan, ses.me, logistic.encode(x[plan.train].T, params.scale_bits),
            np.ascontiguousarray(x[plan.train]), np.ascontiguousarray(x[plan.val]),
            None if ses.label is None else ses.label[plan.train].astype(np.float64),
            None if ses.label is None else ses.label[plan.val].astype(np.float64),
            np.zeros(x.shape[1]),
        )
        state.dealer = ses.dealer if ses.dealer in ses.parties else None
        weights = params.weights()
        if weights is not None:
            w0, w1 = (round(w * (1 << WEIGHT_BITS)) for w in weights)
            state.weights = (w0, w1 - w0)
        await _setup(state, transport, ses.dealer)
        if weights is not None:
            await _setup_weights(state, transport, ses.dealer)
        history = await _train(state, transport, params)
        held_out = (logistic.HeldOut(ses.rows, params.validation_fraction, params.seed, digest)
                    if len(plan.val) else None)
        fitted = {k: f.to_json() for k, f in preprocessing.fit(recipe, ses.columns).items()}
        return _outputs(job, ses, state, params, recipe, list(feats), history, held_out, fitted)


RESIDUAL_MAX = 64.0
"""The largest |weighted residual| the fixed-point range is sized for."""


def feature_limit(params: LrTrainParams) -> float:
    """|x| bound so that a batch's gradient sum stays inside Z_2^64's signed range."""
    bits = 62 - 2 * params.scale_bits - (WEIGHT_BITS if params.weights() else 0)
    return 2.0 ** bits / (params.batch_size * RESIDUAL_MAX)


def _check_range(feats: dict[str, np.ndarray], params: LrTrainParams) -> None:
    limit = feature_limit(params)
    for name, values in feats.items():
        peak = float(np.abs(values).max(initial=0.0))
        if peak > limit:
            raise InputValueError(
                f"feature {name} reaches {peak:g}, beyond +-{limit:g}, the fixed-point range at "
                f"scale_bits={params.scale_bits} and batch_size={params.batch_size}; standardise "
                "it in the job's recipe (or request a smaller scale_bits or batch_size)",
                input_ref=name.split("=")[0].removesuffix(":woe"),
            )


async def _gather_widths(ses: session.Session, transport: Transport, mine: int | None
                         ) -> dict[str, int]:
    """Every data party's feature count (public), to every party and the dealer."""
    widths: dict[str, int] = {}
    if mine is not None:
        widths[ses.me] = mine
        message = canonical_json({"features": mine})
        await asyncio.gather(*(transport.send(p, STEP_SHAPES, "m", message)
                               for p in ses.parties if p != ses.me))
    for peer in ses.data_parties:
        if peer != ses.me:
            widths[peer] = int(loads(await transport.recv(peer, STEP_SHAPES, "m"))["features"])
    return widths


async def _deal(plan: Plan, transport: Transport, params: LrTrainParams) -> None:
    """Dealer: one matrix triple per (owner, holder) and one inner-product triple per epoch."""
    bmax = plan.batch_max
    for owner, holder in plan.crosses:
        m = plan.widths[owner]
        u_seed, c_seed, v_seed = prg.new_seed(), prg.new_seed(), prg.new_seed()
        await transport.send(owner, STEP_DEALER, f"owner.{holder}", u_seed + c_seed)
        u = prg.matrix(u_seed, m, len(plan.train))
        v_all = prg.matrix(v_seed, len(plan.batches), bmax)  # batch t's v: row t
        c_holder = np.negative(prg.matrix(c_seed, len(plan.batches), m))
        for b in plan.batches:
            c_holder[b.index] += u[:, b.start:b.stop] @ v_all[b.index, :b.stop - b.start]
        del u, v_all
        await transport.send(holder, STEP_DEALER, f"holder.{owner}", v_seed)
        await transport.send_array(holder, STEP_DEALER, f"c.{owner}", c_holder)
    if plan.partner is not None and len(plan.val):
        n_val, epochs = len(plan.val), params.epochs
        a_seed, b_seed, g_seed = prg.new_seed(), prg.new_seed(), prg.new_seed()
        gamma = np.zeros(epochs, dtype=np.uint64)
        for epoch in range(epochs):
            alpha = prg.words(a_seed, epoch * n_val, n_val)
            beta = prg.words(b_seed, epoch * n_val, n_val)
            gamma[epoch] = alpha @ beta - prg.words(g_seed, epoch, 1)[0]
        await transport.send(plan.partner, STEP_DEALER, "dot", a_seed + g_seed)
        await transport.send(plan.label, STEP_DEALER, "dot", b_seed)
        await transport.send_array(plan.label, STEP_DEALER, "gamma", gamma)


async def _deal_product(plan: Plan, transport: Transport) -> None:
    """Dealer: an element-wise product triple per batch for y * e_P (class weights)."""
    assert plan.partner is not None
    shape = (len(plan.batches), plan.batch_max)
    a_seed, b_seed, g_seed = prg.new_seed(), prg.new_seed(), prg.new_seed()
    gamma = prg.matrix(a_seed, *shape) * prg.matrix(b_seed, *shape) - prg.matrix(g_seed, *shape)
    await transport.send(plan.label, STEP_DEALER, "alpha", a_seed)
    await transport.send_array(plan.label, STEP_DEALER, "gamma", gamma)
    await transport.send(plan.partner, STEP_DEALER, "beta", b_seed + g_seed)


async def _setup_weights(state: State, transport: Transport, dealer: str | None) -> None:
    """L sends P y - alpha for every batch (alpha is uniform: it hides y); P keeps beta."""
    plan, me = state.plan, state.me
    if plan.partner is None or me not in plan.holders:
        return
    assert dealer is not None
    shape = (len(plan.batches), plan.batch_max)
    if me == plan.label:
        state.alpha = prg.matrix(await transport.recv(dealer, STEP_DEALER, "alpha"), *shape)
        state.gamma = await transport.recv_array(dealer, STEP_DEALER, "gamma")
        assert state.y_train is not None
        y = state.y_train.astype(np.uint64)
        delta = -state.alpha
        for b in plan.batches:
            delta[b.index, :b.stop - b.start] += y[b.start:b.stop]
        await transport.send_array(plan.partner, STEP_DELTA, "delta", delta)
    else:
        raw = await transport.recv(dealer, STEP_DEALER, "beta")
        state.beta = prg.matrix(raw[:prg.SEED_BYTES], *shape)
        state.gamma = prg.matrix(raw[prg.SEED_BYTES:], *shape)
        state.delta = await transport.recv_array(plan.label, STEP_DELTA, "delta")
        if state.delta.shape != shape:
            raise ProtocolError(f"{plan.label} sent masked labels of {list(state.delta.shape)}")


def _weighted(state: State, e: np.ndarray, b: logistic.Batch, y: np.ndarray | None,
              eps: np.ndarray | None) -> np.ndarray:
    """This holder's share of W * e = W0 e + (W1 - W0) y*e, at scale f + WEIGHT_BITS.

    y*e = y*e_L + y*e_P; y*e_P by the dealer's triple: with delta = y - alpha (P knows) and
    eps = e_P - beta (L knows), y*e_P = delta*eps + alpha*eps + gamma_L (at L) + delta*beta +
    gamma_P (at P)."""
    assert state.weights is not None
    w0, dw = (np.uint64(w % (1 << 64)) for w in state.weights)
    plan, count = state.plan, len(e)
    if state.me == plan.label:
        assert y is not None
        ye = y.astype(np.uint64) * e
        if plan.partner is not None:
            assert eps is not None and state.alpha is not None and state.gamma is not None
            alpha = state.alpha[b.index, :count]
            delta = y.astype(np.uint64) - alpha
            ye += delta * eps + alpha * eps + state.gamma[b.index, :count]
        return w0 * e + dw * ye
    assert state.delta is not None and state.beta is not None and state.gamma is not None
    ye = state.delta[b.index, :count] * state.beta[b.index, :count] + state.gamma[b.index, :count]
    return w0 * e + dw * ye


async def _follow(ses: session.Session, transport: Transport, params: LrTrainParams) -> int:
    """The dealer stays in the job until training ends (an epoch at a time, so no step deadline
    is outlasted), so that an abort mid-training reaches it too."""
    for epoch in range(params.epochs):
        if loads(await transport.recv(ses.label_holder, STEP_PROGRESS, f"e{epoch}"))["stop"]:
            return epoch + 1
    return params.epochs


async def _setup(state: State, transport: Transport, dealer: str | None) -> None:
    """Receive the dealer's material, send masked matrices, exchange residual-mask seeds."""
    plan, me = state.plan, state.me
    sends = []
    for owner, holder in plan.crosses:
        if owner == me:
            assert dealer is not None
            raw = await transport.recv(dealer, STEP_DEALER, f"owner.{holder}")
            cross = Cross(u=prg.matrix(raw[:prg.SEED_BYTES], state.xt.shape[0], len(plan.train)),
                          c_seed=raw[prg.SEED_BYTES:])
            state.crosses[(owner, holder)] = cross
            assert cross.u is not None
            sends.append(transport.send_array(holder, STEP_MASKED, "e", state.xt - cross.u))
    if me != plan.label and me in plan.owners:
        seed = prg.new_seed()
        state.mask_seeds[me] = seed
        sends.append(transport.send(plan.label, STEP_MASKS, "seed", seed))
    await asyncio.gather(*sends)
    for owner, holder in plan.crosses:
        if holder == me:
            assert dealer is not None
            e = await transport.recv_array(owner, STEP_MASKED, "e")
            m = plan.widths[owner]
            if e.dtype != np.uint64 or e.shape != (m, len(plan.train)):
                raise ProtocolError(f"{owner} sent a masked matrix of {e.dtype}{list(e.shape)}")
            v_seed = await transport.recv(dealer, STEP_DEALER, f"holder.{owner}")
            c = await transport.recv_array(dealer, STEP_DEALER, f"c.{owner}")
            if c.shape != (len(plan.batches), m):
                raise ProtocolError(f"the dealer sent {list(c.shape)} words for {owner}")
            state.crosses[(owner, holder)] = Cross(e=e, v_seed=v_seed, c_holder=c)
    if me == plan.label:
        for owner in plan.owners:
            if owner != me:
                state.mask_seeds[owner] = await transport.recv(owner, STEP_MASKS, "seed")
    if plan.partner is not None and len(plan.val) and me in plan.holders:
        assert dealer is not None
        raw = await transport.recv(dealer, STEP_DEALER, "dot")
        state.dot = (raw[:prg.SEED_BYTES], raw[prg.SEED_BYTES:])
        if me == plan.label:
            state.gamma_label = await transport.recv_array(dealer, STEP_DEALER, "gamma")


def _batch_words(state: State, seed: bytes, index: int, count: int, width: int) -> np.ndarray:
    """prg.words(seed, index * width, count): from a table of every batch's words, expanded
    once per seed (one AES call per stream instead of one per batch)."""
    table = state.streams.get(seed)
    if table is None:
        table = state.streams[seed] = prg.matrix(seed, len(state.plan.batches), width)
    return table[index, :count]


def _mask(seed: bytes, offset: int, count: int) -> np.ndarray:
    return prg.words(seed, offset, count)


async def _residual_share(state: State, transport: Transport, u: np.ndarray, y: np.ndarray | None,
                          stream: str, offset: int, tag: str, f: int) -> np.ndarray | None:
    """This party's share of e = 0.5 + z/4 - y over some rows (None at a non-holder owner)."""
    plan, me, count = state.plan, state.me, len(u)

    def mask(seed: bytes) -> np.ndarray:
        derived = prg.derive(seed, stream)
        if stream == "train":
            return _batch_words(state, derived, offset // plan.batch_max, count, plan.batch_max)
        return _mask(derived, offset, count)

    if me == plan.label:
        assert y is not None
        share = logistic.encode(0.5 + (u + state.b0) / 4.0 - y, f)
        for seed in state.mask_seeds.values():
            share += mask(seed)
        return share
    a = logistic.encode(u / 4.0, f) - mask(state.mask_seeds[me])
    if me == plan.partner:
        for owner in plan.owners:
            if owner not in plan.holders:
                other = await transport.recv_array(owner, STEP_SHARE, tag)
                if other.shape != a.shape:
                    raise ProtocolError(f"{owner} sent a residual share of {list(other.shape)}")
                a += other
        return a
    assert plan.partner is not None
    await transport.send_array(plan.partner, STEP_SHARE, tag, a)
    return None


@dataclass
class History:
    epochs_run: int
    best_epoch: int
    losses: list[float]


async def _train(state: State, transport: Transport, params: LrTrainParams) -> History:
    plan, me, f = state.plan, state.me, params.scale_bits
    bmax = plan.batch_max
    best_w, best_b0, best_epoch, best_loss = state.w.copy(), state.b0, 0, np.inf
    losses: list[float] = []
    stale, epochs_run = 0, 0
    for epoch in range(params.epochs):
        if epoch:
            failpoint(f"lr_train.epoch{epoch}")  # fault tests: this party dies mid-training
        rate = logistic.learning_rate(params, epoch)
        for b in (x for x in plan.batches if x.epoch == epoch):
            rows = slice(b.start, b.stop)
            count = b.stop - b.start
            u = state.x_train[rows] @ state.w
            y = None if state.y_train is None else state.y_train[rows]
            e = await _residual_share(state, transport, u, y, "train", b.index * bmax,
                                      f"b{b.index}", f)
            m = state.xt.shape[0]
            weighted = state.weights is not None
            received: dict[str, np.ndarray] = {}
            eps = None
            if weighted and e is not None and me == plan.label and plan.partner is not None:
                # L needs P's eps = e_P - beta first (it rides on P's message to L).
                received[plan.partner] = await _batch_message(
                    transport, plan.partner, b, count + m + 1 + count)
                eps = received[plan.partner][-count:]
            e_raw = e
            if weighted and e is not None:
                e = _weighted(state, e, b, y, eps)
            # Holders: one message per owner with (d, share of X_i^T e_h[, sum e_P[, eps]]).
            sends = []
            if e is not None:
                for (owner, holder), cross in state.crosses.items():
                    if holder != me:
                        continue
                    assert cross.e is not None and cross.c_holder is not None
                    v = _batch_words(state, cross.v_seed, b.index, count, bmax)
                    parts = [e - v, cross.e[:, rows] @ e + cross.c_holder[b.index]]
                    if me == plan.partner and owner == plan.label:
                        parts.append(np.array([e.sum(dtype=np.uint64)], dtype=np.uint64))
                        if weighted:
                            assert e_raw is not None and state.beta is not None
                            parts.append(e_raw - state.beta[b.index, :count])
                    sends.append(transport.send_array(owner, STEP_CROSS, f"b{b.index}",
                                                      np.concatenate(parts)))
            await asyncio.gather(*sends)
            grad = state.xt[:, rows] @ e if e is not None else np.zeros(m, dtype=np.uint64)
            intercept = e.sum(dtype=np.uint64) if (e is not None and me == plan.label) else None
            for (owner, holder), cross in state.crosses.items():
                if owner != me:
                    continue
                extra = 1 if (me == plan.label and holder == plan.partner) else 0
                size = count + m + extra + (count if extra and weighted else 0)
                msg = received.get(holder)
                if msg is None:
                    msg = await _batch_message(transport, holder, b, size)
                assert cross.u is not None
                c_owner = _batch_words(state, cross.c_seed, b.index, m, m)
                grad = grad + cross.u[:, rows] @ msg[:count] + c_owner + msg[count:count + m]
                if extra:
                    assert intercept is not None
                    intercept = intercept + msg[count + m]
            sw = WEIGHT_BITS if weighted else 0
            g = logistic.decode(grad, 2 * f + sw) / count + params.l2 * state.w
            state.w = state.w - rate * g
            if intercept is not None:
                step = float(logistic.decode(np.array([intercept]), f + sw)[0])
                state.b0 -= rate * step / count
        epochs_run = epoch + 1
        if not len(plan.val):
            await _progress(state, transport, epoch + 1 == params.epochs)
            continue
        loss = await _validation_loss(state, transport, epoch, f)
        decision = await _decide(state, transport, epoch, loss, best_loss, stale, params)
        if me == plan.label:
            assert loss is not None
            losses.append(loss)
        if decision["improved"]:
            best_w, best_b0, best_epoch = state.w.copy(), state.b0, epoch + 1
            best_loss = loss if loss is not None else best_loss
            stale = 0
        else:
            stale += 1
        await _progress(state, transport, decision["stop"])
        if decision["stop"]:
            break
    if len(plan.val):
        state.w, state.b0 = best_w, best_b0
    else:
        best_epoch = epochs_run
    return History(epochs_run, best_epoch, losses)


async def _batch_message(transport: Transport, holder: str, b: logistic.Batch, size: int
                         ) -> np.ndarray:
    msg = await transport.recv_array(holder, STEP_CROSS, f"b{b.index}")
    if msg.dtype != np.uint64 or msg.shape != (size,):
        raise ProtocolError(f"{holder} sent a batch message of {list(msg.shape)}")
    return msg


async def _progress(state: State, transport: Transport, stop: bool) -> None:
    dealer = state.dealer
    if state.me == state.plan.label and dealer is not None:
        epoch = state.epoch
        state.epoch += 1
        await transport.send(dealer, STEP_PROGRESS, f"e{epoch}", canonical_json({"stop": stop}))


async def _validation_loss(state: State, transport: Transport, epoch: int, f: int
                           ) -> float | None:
    """Mean squared t1 residual on the validation rows, opened to the label holder only."""
    plan, me = state.plan, state.me
    n_val = len(plan.val)
    u = state.x_val @ state.w
    e = await _residual_share(state, transport, u, state.y_val, "val", epoch * n_val,
                              f"v{epoch}", f)
    if plan.partner is None:
        if me != plan.label:
            return None
        assert e is not None
        return float(logistic.decode(np.array([e @ e]), 2 * f)[0]) / n_val
    if me not in plan.holders:
        return None
    assert e is not None and state.dot is not None
    mask_seed, gamma_seed = state.dot
    mask = prg.words(mask_seed, epoch * n_val, n_val)
    other = plan.partner if me == plan.label else plan.label
    await transport.send_array(other, STEP_VAL, f"m{epoch}", e - mask)
    opened = await transport.recv_array(other, STEP_VAL, f"m{epoch}")
    if opened.shape != (n_val,):
        raise ProtocolError(f"{other} sent a validation mask of {list(opened.shape)}")
    if me == plan.partner:
        share = mask @ opened + prg.words(gamma_seed, epoch, 1)[0]
        part = e @ e + np.uint64(2) * share
        await transport.send_array(plan.label, STEP_VAL, f"s{epoch}", np.array([part]))
        return None
    assert state.gamma_label is not None
    delta, eps = opened, e - mask
    share = delta @ eps + delta @ mask + state.gamma_label[epoch]
    part = (await transport.recv_array(plan.partner, STEP_VAL, f"s{epoch}"))[0]
    total = e @ e + np.uint64(2) * share + part
    return float(logistic.decode(np.array([total]), 2 * f)[0]) / n_val


async def _decide(state: State, transport: Transport, epoch: int, loss: float | None,
                  best: float, stale: int, params: LrTrainParams) -> dict[str, bool]:
    """The label holder says whether this epoch improved and whether to stop; all follow."""
    plan, me = state.plan, state.me
    if me == plan.label:
        assert loss is not None
        improved = loss < best - params.tol
        stop = (not improved and stale + 1 >= params.patience) or epoch + 1 == params.epochs
        decision = {"improved": improved, "stop": stop}
        message = canonical_json(decision)
        await asyncio.gather(*(transport.send(p, STEP_DECIDE, f"e{epoch}", message)
                               for p in plan.owners if p != me))
        return decision
    got = loads(await transport.recv(plan.label, STEP_DECIDE, f"e{epoch}"))
    return {"improved": bool(got["improved"]), "stop": bool(got["stop"])}


def _outputs(job: JobContext, ses: session.Session, state: State, params: LrTrainParams,
             recipe: preprocessing.Recipe, names: list[str], history: History,
             held_out: logistic.HeldOut | None, fitted: dict[str, dict[str, Any]]
             ) -> ProtocolResult:
    me = ses.me
    is_label = me == ses.label_holder
    part = logistic.ModelPart(
        job_id=job.job_id, owner=me, features=names, coefficients=state.w.tolist(),
        intercept=state.b0 if is_label else None, sigmoid=params.sigmoid,
        recipe=recipe.fingerprint(), epochs_run=history.epochs_run,
        best_epoch=history.best_epoch, validation_loss=history.losses if is_label else None,
        held_out=held_out, fitted=fitted or None,
    )
    outputs = {f"model.{me}": part.to_bytes()} if f"model.{me}" in job.outputs else {}
    summary: dict[str, str | int] = {"role": "label" if is_label else "features",
                                     "features": len(names), "rows": ses.rows,
                                     "epochs_run": part.epochs_run}
    return ProtocolResult(outputs=outputs, summary=summary)
