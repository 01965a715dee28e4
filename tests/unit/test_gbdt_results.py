"""`job result` on a boosted model's parts: each owner reads its features' importance, the label
holder also the number of trees, a feature owner the number of its own splits."""

from __future__ import annotations

from alliance.app.model_results import has_view, view
from node.mpc.modelling.gbdt.binned import FeatureBins
from node.mpc.modelling.gbdt.model import ActivePart, PassivePart, SplitNode, Tree


def test_a_feature_owner_sees_its_importance_ranked_and_its_split_count() -> None:
    spec = FeatureBins("telecom/s:t", "numeric", (0.5, 1.5))
    other = FeatureBins("telecom/s:u", "numeric", (2.0,))
    part = PassivePart("job-g", "telecom", "bank", [spec, other], {(0, 0): (1, 0), (1, 2): (0, 1)},
                       {"telecom/s:t": (2.5, 1), "telecom/s:u": (7.0, 1)})
    assert has_view("gbdt_train", "model.telecom")
    shown = view("model.telecom", part.to_bytes())
    assert shown.rows == [("telecom/s:u", "7.0000", 1), ("telecom/s:t", "2.5000", 1)]
    assert shown.summary["own splits"] == 2 and shown.summary["label holder (trees)"] == "bank"


def test_the_label_holder_sees_its_trees_and_importance() -> None:
    tree = Tree({0: SplitNode("telecom")}, {1: -0.1, 2: 0.2})
    part = ActivePart("job-g", "bank", "logistic", -1.2, ["bank", "telecom"],
                      [FeatureBins("bank/l:x", "numeric", (0.0,))], [tree],
                      {"bank/l:x": (0.0, 0)}, [], 1)
    shown = view("model.bank", part.to_bytes())
    assert shown.summary["trees"] == 1 and shown.rows == [("bank/l:x", "0.0000", 0)]
