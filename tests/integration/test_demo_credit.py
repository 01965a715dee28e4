"""`alliance demo --scenario credit` end to end, as a user runs it: a separate process, devnet and
three nodes; every modelling job approved, run, and checked against the clear by the demo."""

from __future__ import annotations

from pathlib import Path

from cli_helpers import demo_summary

STEPS = ["create", "start", "charter", "datasets", "alignment", "unaligned", "binning", "train",
         "predict", "scorecard", "boost", "boost_eval"]


def test_the_credit_demo_chains_every_modelling_job_and_matches_the_clear(tmp_path: Path) -> None:
    net = tmp_path / "net"
    summary = demo_summary(net, "--scenario", "credit")
    assert [s["key"] for s in summary["steps"]] == STEPS
    assert summary["alignment"]["secure"] == summary["alignment"]["clear"] > 0
    assert summary["binning"]["max_gap"] <= 1e-9
    assert summary["train"]["max_gap"] <= 1e-4
    predict = summary["predict"]
    assert abs(predict["auc"] - predict["clear_auc"]) <= 1e-3 and predict["auc"] > 0.6
    assert summary["scorecard"]["max_gap"] <= 1e-6
    assert summary["boost"]["same_trees"] and summary["boost_eval"]["max_gap"] <= 1e-9
    assert summary["boost_eval"]["boosted"]["auc"] > 0.6
    assert all(Path(p).read_text().startswith("feature,bin,woe,points")
               for p in summary["scorecard"]["csv"])
    # model parts and scores only at their owners; the dealer holds no output
    from network.devnet.launcher import devnet_status
    from node.launcher import node_status
    from node.paths import outputs_dir

    dealer = outputs_dir(net, "platform")
    assert not dealer.exists() or not any(dealer.iterdir())

    assert not devnet_status(net).running
    assert not any(node_status(net, org)["running"] for org in ("bank", "telecom", "platform"))
