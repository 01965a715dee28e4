"""The split boosted model: trees whose splits live with their features' owners.

- The label holder's part (`ActivePart`): every tree's structure (which nodes split, and whose
  feature each split uses), the leaf values, the base margin, its own splits' (feature, bin), its
  own features' bins and importance, the validation losses.
- Each other owner's part (`PassivePart`): only its own splits, as (tree, node) -> (feature,
  bin, the threshold in words), its features' bins (so `bin <= b` is a threshold only it can
  apply), its features' importance.

Each part serialises to canonical JSON (floats as shortest decimal strings); the node records a
part's sha256 in its receipt, so the ledger holds the fingerprint only. Routing a row through a
tree needs every owner's decisions: `route` takes them as a function.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from alliance.canonical import canonical_json, loads
from alliance.errors import EncodingError
from node.errors import ProtocolError
from node.mpc.modelling.gbdt.binned import FeatureBins
from node.mpc.modelling.gbdt.trees import children


@dataclass(frozen=True)
class SplitNode:
    owner: str
    feature: int = -1
    """The owner's feature index (-1 where this part does not know it)."""
    bin: int = -1


@dataclass
class Tree:
    splits: dict[int, SplitNode] = field(default_factory=dict)
    leaves: dict[int, float] = field(default_factory=dict)


Decide = Callable[[int, int, np.ndarray], np.ndarray]
"""(tree, node, rows) -> bool per row of `rows`: which go left."""


def route(trees: list[Tree], rows: int, decide: Decide) -> np.ndarray:
    """(trees, rows) leaf values of every row, the splits' decisions given by `decide`."""
    out = np.zeros((len(trees), rows))
    for t, tree in enumerate(trees):
        frontier = {0: np.arange(rows)}
        while frontier:
            nxt: dict[int, np.ndarray] = {}
            for node, members in frontier.items():
                if node in tree.leaves:
                    out[t, members] = tree.leaves[node]
                    continue
                if node not in tree.splits:
                    raise ProtocolError(f"tree {t} has no node {node}: the model is malformed")
                left = decide(t, node, members)
                a, b = children(node)
                nxt[a], nxt[b] = members[left], members[~left]
            frontier = nxt
    return out


def _num(x: float) -> str:
    return repr(float(x))


@dataclass
class ActivePart:
    job_id: str
    owner: str
    objective: str
    base_margin: float
    parties: list[str]
    features: list[FeatureBins]
    trees: list[Tree]
    importance: dict[str, tuple[float, int]]
    validation_loss: list[float]
    trees_run: int

    def margins(self, leaf_values: np.ndarray) -> np.ndarray:
        return self.base_margin + leaf_values.sum(axis=0)

    def scores(self, leaf_values: np.ndarray) -> np.ndarray:
        """Probabilities (logistic) or predictions (squared) from routed leaf values."""
        margin = self.margins(leaf_values)
        return 1.0 / (1.0 + np.exp(-margin)) if self.objective == "logistic" else margin

    def to_bytes(self) -> bytes:
        return canonical_json({
            "kind": "gbdt.active", "job_id": self.job_id, "owner": self.owner,
            "objective": self.objective, "base_margin": _num(self.base_margin),
            "parties": self.parties, "features": [f.to_dict() for f in self.features],
            "trees": [{"splits": [[n, s.owner, s.feature, s.bin]
                                  for n, s in sorted(t.splits.items())],
                       "leaves": [[n, _num(v)] for n, v in sorted(t.leaves.items())]}
                      for t in self.trees],
            "importance": {k: {"gain": _num(g), "splits": c}
                           for k, (g, c) in self.importance.items()},
            "validation_loss": [_num(v) for v in self.validation_loss],
            "trees_run": self.trees_run,
        })

    @classmethod
    def from_bytes(cls, data: bytes) -> ActivePart:
        try:
            raw = loads(data)
            if raw.get("kind") != "gbdt.active":
                raise ValueError("not the label holder's part of a gbdt model")
            trees = [Tree({int(n): SplitNode(str(o), int(f), int(b))
                           for n, o, f, b in t["splits"]},
                          {int(n): float(v) for n, v in t["leaves"]}) for t in raw["trees"]]
            return cls(str(raw["job_id"]), str(raw["owner"]), str(raw["objective"]),
                       float(raw["base_margin"]), [str(p) for p in raw["parties"]],
                       [FeatureBins.from_dict(f) for f in raw["features"]], trees,
                       {k: (float(v["gain"]), int(v["splits"]))
                        for k, v in raw["importance"].items()},
                       [float(v) for v in raw["validation_loss"]], int(raw["trees_run"]))
        except (EncodingError, KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ProtocolError(f"the gbdt model part given is malformed ({exc})") from None


@dataclass
class PassivePart:
    job_id: str
    owner: str
    holder: str
    features: list[FeatureBins]
    splits: dict[tuple[int, int], tuple[int, int]]
    """(tree, node) -> (feature, bin) of this owner's splits."""
    importance: dict[str, tuple[float, int]]

    def to_bytes(self) -> bytes:
        return canonical_json({
            "kind": "gbdt.passive", "job_id": self.job_id, "owner": self.owner,
            "holder": self.holder, "features": [f.to_dict() for f in self.features],
            "splits": [[t, n, f, b, self.features[f].threshold(b)]
                       for (t, n), (f, b) in sorted(self.splits.items())],
            "importance": {k: {"gain": _num(g), "splits": c}
                           for k, (g, c) in self.importance.items()},
        })

    @classmethod
    def from_bytes(cls, data: bytes) -> PassivePart:
        try:
            raw = loads(data)
            if raw.get("kind") != "gbdt.passive":
                raise ValueError("not a feature owner's part of a gbdt model")
            return cls(str(raw["job_id"]), str(raw["owner"]), str(raw["holder"]),
                       [FeatureBins.from_dict(f) for f in raw["features"]],
                       {(int(t), int(n)): (int(f), int(b)) for t, n, f, b, _ in raw["splits"]},
                       {k: (float(v["gain"]), int(v["splits"]))
                        for k, v in raw["importance"].items()})
        except (EncodingError, KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ProtocolError(f"the gbdt model part given is malformed ({exc})") from None


def joined(active: ActivePart, passives: list[PassivePart]) -> list[Tree]:
    """The trees with every split's feature and bin, from all parts (only someone holding every
    part can do this: a test, or a demo that holds every member's data)."""
    owners = {p.owner: p for p in passives}
    out = []
    for t, tree in enumerate(active.trees):
        splits = {n: s if s.owner == active.owner else SplitNode(
            s.owner, *owners[s.owner].splits[(t, n)]) for n, s in tree.splits.items()}
        out.append(Tree(splits, dict(tree.leaves)))
    return out


def part_kind(data: bytes) -> str:
    """"gbdt.active" or "gbdt.passive" (ProtocolError for anything else)."""
    try:
        kind = loads(data).get("kind")
    except (EncodingError, AttributeError):
        kind = None
    if kind not in ("gbdt.active", "gbdt.passive"):
        raise ProtocolError("the model part given is not a gbdt_train model part; name a "
                            "gbdt_train job in model_job")
    return str(kind)
