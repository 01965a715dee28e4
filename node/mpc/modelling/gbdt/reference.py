"""The plaintext reference of exactly what `gbdt_train` computes, in one process: the test oracle
(the protocol must grow the same trees) and the demo's check against the clear.

Same public split and samples, same fixed-point gradients, histograms summed directly over each
node's rows (the protocol derives half of them by subtraction: exact integers either way), same
split rule and leaf values (trees.py), same early stopping.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from alliance.protocols.gbdt import GbdtTrainParams
from node.mpc.modelling import logistic
from node.mpc.modelling.gbdt import trees as T
from node.mpc.modelling.gbdt.model import SplitNode, Tree, route


@dataclass
class Fit:
    """A model grown in the clear: every split with its owner, feature and bin."""

    objective: str
    base_margin: float
    trees: list[Tree]
    gains: list[dict[int, float]]
    validation_loss: list[float] = field(default_factory=list)
    trees_run: int = 0

    def leaf_values(self, bins: dict[str, np.ndarray]) -> np.ndarray:
        """(trees, rows) leaf values of rows given each owner's (features, rows) bins."""
        rows = next(iter(bins.values())).shape[1]

        def decide(t: int, node: int, members: np.ndarray) -> np.ndarray:
            s = self.trees[t].splits[node]
            return bins[s.owner][s.feature, members] <= s.bin

        return route(self.trees, rows, decide)

    def scores(self, bins: dict[str, np.ndarray]) -> np.ndarray:
        margin = self.base_margin + self.leaf_values(bins).sum(axis=0)
        return 1.0 / (1.0 + np.exp(-margin)) if self.objective == "logistic" else margin

    def importance(self, owner: str, width: int) -> list[tuple[float, int]]:
        """(total gain, split count) per feature of `owner`."""
        out = [(0.0, 0)] * width
        for tree, gains in zip(self.trees, self.gains, strict=True):
            for node, s in sorted(tree.splits.items()):
                if s.owner == owner:
                    g, c = out[s.feature]
                    out[s.feature] = (g + gains[node], c + 1)
        return out


def fit(parties: list[tuple[str, np.ndarray]], y: np.ndarray, params: GbdtTrainParams) -> Fit:
    """Grow the model; `parties`: (org, (features, rows) uint8 bins), the label holder first
    and the others in sorted order (the order that breaks ties between equal gains)."""
    bins_t = np.concatenate([b for _, b in parties], axis=0)
    owners = [(org, f) for org, b in parties for f in range(b.shape[0])]
    n_bins = int(bins_t.max(initial=0)) + 1
    rows = len(y)
    y = y.astype(np.float64)
    train, val = logistic.split_rows(rows, params.validation_fraction, params.seed)
    base = T.base_margin(params.objective, y[train])
    margin = np.full(rows, base)
    stop = T.EarlyStop(params.patience, [])
    result = Fit(params.objective, base, [], [])
    for t in range(params.n_trees):
        weight, allowed = T.tree_sample(params, t, train, rows, len(owners))
        values = T.encoded_gh(params.objective, margin, y, weight, params.scale_bits)
        tree, gains = Tree(), {}
        frontier = {0: np.arange(rows)}
        for depth in range(params.max_depth + 1):
            nxt: dict[int, np.ndarray] = {}
            for node, members in sorted(frontier.items()):
                split = None
                if depth < params.max_depth:
                    hist = T.histogram(bins_t, values, members, n_bins)
                    split = T.best_split(hist, allowed, params)
                if split is None:
                    tree.leaves[node] = T.leaf_value(T.node_totals(values, members), params)
                    continue
                org, local = owners[split.feature]
                tree.splits[node] = SplitNode(org, local, split.bin)
                gains[node] = split.gain
                left = bins_t[split.feature, members] <= split.bin
                a, b = T.children(node)
                nxt[a], nxt[b] = members[left], members[~left]
            frontier = nxt
        result.trees.append(tree)
        result.gains.append(gains)
        margin = margin + _leaf_values(tree, bins_t, owners, rows)
        result.trees_run = t + 1
        if len(val) and stop.add(T.loss(params.objective, margin[val], y[val])):
            break
    if len(val):
        result.validation_loss = stop.losses
        result.trees = result.trees[:stop.best]
        result.gains = result.gains[:stop.best]
    return result


def _leaf_values(tree: Tree, bins_t: np.ndarray, owners: list[tuple[str, int]], rows: int
                 ) -> np.ndarray:
    index = {owner: i for i, owner in enumerate(owners)}

    def decide(_t: int, node: int, members: np.ndarray) -> np.ndarray:
        s = tree.splits[node]
        return bins_t[index[(s.owner, s.feature)], members] <= s.bin

    return route([tree], rows, decide)[0]
