"""The plaintext maths of histogram gradient boosting, shared by the reference and the protocol.

Gradients and hessians are carried as fixed-point integers (round(x * 2^s), two's complement in
uint64) from the moment the label holder computes them; every histogram is an exact sum of those
integers (mod 2^64, read back as int64), so the protocol, whose histograms are sums of additive
shares, and the reference, which sums in the clear, hold bit-identical histograms, and every gain
and leaf value below is the same float computed from the same integers: they grow identical trees.

Conventions (XGBoost's where it has one): a split (feature f, bin b) sends the rows whose bin is
<= b left; gain = GL^2/(HL+lambda) + GR^2/(HR+lambda) - G^2/(H+lambda); a node splits on its best
gain if that exceeds max(gamma, GAIN_EPS) and both children have a hessian sum >= min_child_weight
and > 0; ties go to the first candidate in (feature, bin) order over the features of all parties,
the label holder's first, then the others' in sorted order. Leaf value: -eta * G / (H + lambda).
Missing values are a feature's last bin (routed right unless it is the split's bin). Node ids are
heap indices: the root is 0, the children of i are 2i+1 (left) and 2i+2.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from alliance.protocols.gbdt import GbdtTrainParams
from node.errors import InputValueError

GAIN_EPS = 1e-6
"""XGBoost's kRtEps: no split gains less."""
EXACT = float(1 << 53)


def encode(values: np.ndarray, scale_bits: int) -> np.ndarray:
    """round(x * 2^s) as uint64 (two's complement)."""
    return np.rint(np.asarray(values, dtype=np.float64) * float(1 << scale_bits)).astype(
        np.int64).view(np.uint64)


def gradients(objective: str, margin: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First and second derivative of the loss at `margin` (float64)."""
    if objective == "logistic":
        p = 1.0 / (1.0 + np.exp(-margin))
        return p - y, np.maximum(p * (1.0 - p), 1e-16)
    return margin - y, np.ones_like(margin)


def base_margin(objective: str, y_train: np.ndarray) -> float:
    """The starting margin: the log-odds (logistic) or the mean (squared) of the training label."""
    mean = float(np.mean(y_train)) if len(y_train) else 0.0
    if objective == "logistic":
        mean = min(max(mean, 1e-6), 1 - 1e-6)
        return float(np.log(mean / (1.0 - mean)))
    return mean


def loss(objective: str, margin: np.ndarray, y: np.ndarray) -> float:
    """Mean validation loss: log loss (logistic) or squared error."""
    if objective == "logistic":
        p = np.clip(1.0 / (1.0 + np.exp(-margin)), 1e-15, 1 - 1e-15)
        return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
    return float(np.mean((margin - y) ** 2))


def encoded_gh(objective: str, margin: np.ndarray, y: np.ndarray, weight: np.ndarray,
               scale_bits: int) -> np.ndarray:
    """(rows, 2) uint64: the encoded g and h of each row, zero where `weight` is False (rows
    outside this tree's sample, validation rows). Refuses a range the sums could overflow."""
    g, h = gradients(objective, margin, y)
    g = np.where(weight, g, 0.0)
    h = np.where(weight, h, 0.0)
    peak = float(max(np.abs(g).max(initial=0.0), h.max(initial=0.0)))
    if peak * len(g) * float(1 << scale_bits) >= 2.0 ** 62:
        raise InputValueError(
            f"gradients up to {peak:g} over {len(g)} rows overflow the fixed-point range at "
            f"scale_bits={scale_bits}; rescale the label or request a smaller scale_bits")
    return np.stack([encode(g, scale_bits), encode(h, scale_bits)], axis=1)


PACK_LIMIT = 1 << 31
"""A packed word carries g in its low 32 bits: every sum of g must stay below 2^31 in size."""


def packs(objective: str, rows: int, scale_bits: int) -> bool:
    """Whether g and h travel packed in one word, w = g + 2^32 h (mod 2^64): only when no sum can
    outgrow 31 bits, which the public shape alone tells (logistic: |g| <= 1, 0 < h <= 1/4, so
    |sum g| <= rows * 2^s). Halves what the secure selection moves and sums; the sums are the
    same integers."""
    return objective == "logistic" and rows * (1 << scale_bits) < PACK_LIMIT


def pack(values: np.ndarray) -> np.ndarray:
    """(rows, 2) encoded (g, h) -> (rows, 1) words g + 2^32 h (mod 2^64)."""
    with np.errstate(over="ignore"):
        return (values[:, :1] + np.left_shift(values[:, 1:], np.uint64(32))).astype(np.uint64)


def unpack(sums: np.ndarray) -> np.ndarray:
    """(..., 1) sums of packed words (int64) -> (..., 2) int64 sums of g and h."""
    low = (sums.view(np.uint64) & np.uint64(0xFFFFFFFF)).astype(np.uint32).view(np.int32)
    g = low.astype(np.int64)
    with np.errstate(over="ignore"):
        h = np.right_shift(sums - g, 32)
    return np.concatenate([g, h], axis=-1)


def histogram(bins_t: np.ndarray, values: np.ndarray, rows: np.ndarray, n_bins: int
              ) -> np.ndarray:
    """(features, n_bins, m) int64: exact sums of `values` (rows x m, uint64) over `rows` by
    (feature, bin); `bins_t` is features x rows (uint8)."""
    features, m = bins_t.shape[0], values.shape[1]
    out = np.zeros((features, n_bins, m), dtype=np.uint64)
    if not len(rows) or not features:
        return out.view(np.int64)
    picked = values[rows].view(np.int64)
    peak = float(np.abs(picked).max(initial=0))
    chunks = _chunks(picked, peak * len(rows) < EXACT)
    sub = bins_t[:, rows]
    for f in range(features):
        index = sub[f]
        for j in range(m):
            acc = np.zeros(n_bins, dtype=np.uint64)
            for shift, part in chunks[j]:
                summed = np.bincount(index, weights=part, minlength=n_bins)[:n_bins]
                acc += np.left_shift(summed.astype(np.int64).view(np.uint64), np.uint64(shift))
            out[f, :, j] = acc
    return out.view(np.int64)


def _chunks(values: np.ndarray, small: bool) -> list[list[tuple[int, np.ndarray]]]:
    """Per column, float64 parts whose bincounts are exact: the values themselves when every
    sum fits in 53 bits, else three 22-bit slices (exact up to 2^31 rows)."""
    if small:
        return [[(0, values[:, j].astype(np.float64))] for j in range(values.shape[1])]
    words = values.view(np.uint64)
    mask = np.uint64((1 << 22) - 1)
    return [[(s, (np.right_shift(words[:, j], np.uint64(s)) & mask).astype(np.float64))
             for s in (0, 22, 44)] for j in range(values.shape[1])]


@dataclass(frozen=True)
class Split:
    feature: int
    """Index into the concatenated features of all parties."""
    bin: int
    gain: float


def best_split(hist: np.ndarray, allowed: np.ndarray, params: GbdtTrainParams
               ) -> Split | None:
    """The best split of a node from its (features, bins, 2) int64 histogram, or None (a leaf).
    `allowed`: bool per feature (this tree's column sample)."""
    s = float(1 << params.scale_bits)
    cum = np.cumsum(hist, axis=1)  # exact: int64
    total = cum[0, -1] if hist.shape[0] else np.zeros(2, dtype=np.int64)
    gl = cum[:, :-1, 0].astype(np.float64) / s
    hl = cum[:, :-1, 1].astype(np.float64) / s
    g, h = float(total[0]) / s, float(total[1]) / s
    gr, hr = g - gl, h - hl
    lam, mcw = params.reg_lambda, params.min_child_weight
    valid = (hl >= mcw) & (hr >= mcw) & (hl > 0) & (hr > 0) & allowed[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        gain = gl * gl / (hl + lam) + gr * gr / (hr + lam) - g * g / (h + lam)
    gain = np.where(valid, gain, -np.inf)
    if not gain.size:
        return None
    at = int(np.argmax(gain))
    best = float(gain.flat[at])
    if not best > max(params.gamma, GAIN_EPS):
        return None
    feature, b = divmod(at, gain.shape[1])
    return Split(feature, b, best)


def leaf_value(totals: np.ndarray, params: GbdtTrainParams) -> float:
    """-eta * G / (H + lambda) from a node's encoded (G, H) sums (int64)."""
    s = float(1 << params.scale_bits)
    g, h = float(totals[0]) / s, float(totals[1]) / s
    denominator = h + params.reg_lambda
    return 0.0 if denominator <= 0 else -params.learning_rate * g / denominator


def node_totals(values: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """(G, H) of a node as exact int64 sums of the encoded values."""
    return values[rows].sum(axis=0, dtype=np.uint64).view(np.int64)


def tree_sample(params: GbdtTrainParams, tree: int, train: np.ndarray, rows: int,
                features: int) -> tuple[np.ndarray, np.ndarray]:
    """This tree's public samples: a bool per row (in the training split and drawn), a bool per
    feature (the column sample), both from the job's seed."""
    weight = np.zeros(rows, dtype=bool)
    rng = np.random.default_rng([params.seed, tree, 0])
    keep = rng.random(len(train)) < params.subsample if params.subsample < 1 else slice(None)
    weight[train[keep]] = True
    allowed = np.ones(features, dtype=bool)
    if params.colsample < 1 and features:
        k = max(1, round(params.colsample * features))
        allowed[:] = False
        allowed[np.random.default_rng([params.seed, tree, 1]).choice(features, k,
                                                                      replace=False)] = True
    return weight, allowed


def children(node: int) -> tuple[int, int]:
    return 2 * node + 1, 2 * node + 2


def smaller_child(node: int, left_rows: int, right_rows: int) -> int:
    """The child whose histogram is computed (the other is its parent's minus it); ties: left."""
    left, right = children(node)
    return left if left_rows <= right_rows else right


@dataclass
class EarlyStop:
    """Validation losses so far and the best tree count (the label holder's bookkeeping)."""

    patience: int
    losses: list[float]
    best: int = 0
    """Trees kept: 1 + the index of the tree with the lowest validation loss."""

    def add(self, value: float) -> bool:
        """Record the loss after one more tree; True when training should stop."""
        self.losses.append(value)
        if self.best == 0 or value < self.losses[self.best - 1]:
            self.best = len(self.losses)
        return len(self.losses) - self.best >= self.patience
