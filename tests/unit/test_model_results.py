"""`job result` on modelling outputs: each output the protocols write, read back as a table."""

from __future__ import annotations

import numpy as np

from alliance.app.model_results import has_view, view
from alliance.canonical import canonical_json
from node.mpc.modelling import evaluation
from node.mpc.modelling.logistic import ModelPart
from node.mpc.modelling.params import ScorecardParams
from node.mpc.modelling.scorecard import card
from node.mpc.modelling.tables import BinTable, encode_tables

TABLE = BinTable("bank/loans:income", "numeric", [1000.0], [], False, [60, 40], [30, 5])
PART = ModelPart(job_id="job-t", owner="bank", features=["bank/loans:income:woe"],
                 coefficients=[0.8], intercept=-0.5, sigmoid="t1", recipe="", epochs_run=3,
                 best_epoch=3, validation_loss=None)


def test_only_modelling_outputs_get_a_view() -> None:
    assert has_view("binning", "bins.bank") and has_view("lr_predict", "evaluation")
    assert not has_view("lr_predict", "scores") and not has_view("stats", "result")


def test_iv_is_ranked_with_its_usual_reading() -> None:
    shown = view("iv", canonical_json({"iv": {"a": "0.05", "b": "0.35"}}))
    assert shown.rows == [("b", "0.3500", "strong"), ("a", "0.0500", "weak")]


def test_bin_tables_show_counts_events_and_woe() -> None:
    shown = view("bins.bank", encode_tables([TABLE]))
    assert [r[:4] for r in shown.rows] == [("bank/loans:income", "[-inf,1000.0)", 60, 30),
                                           ("bank/loans:income", "[1000.0,inf)", 40, 5)]
    assert shown.rows[0][4] == f"{TABLE.stats().woe[0]:.4f}"


def test_a_model_part_shows_coefficients_and_the_intercept() -> None:
    shown = view("model.bank", PART.to_bytes())
    assert shown.rows == [("bank/loans:income:woe", "0.8000")]
    assert shown.summary["intercept"] == "-0.5000"


def test_a_model_part_says_how_many_rows_training_held_out() -> None:
    from dataclasses import replace

    from node.mpc.modelling.logistic import HeldOut

    held = replace(PART, held_out=HeldOut(1000, 0.25, 3, "sha256:ab"))
    assert ModelPart.from_bytes(held.to_bytes()) == held
    assert view("model.bank", held.to_bytes()).summary["validation rows held out"] == 250
    assert "validation rows held out" not in view("model.bank", PART.to_bytes()).summary


def test_evaluation_shows_auc_ks_and_deciles() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 400)
    p = np.clip(y * 0.3 + rng.random(400) * 0.7, 0, 1)
    rep = evaluation.report(y, p)
    shown = view("evaluation", rep.to_bytes())
    assert shown.summary["AUC"] == f"{rep.auc:.4f}" and shown.summary["KS"] == f"{rep.ks:.4f}"
    assert len(shown.rows) == 10


def test_a_scorecard_is_a_table_and_a_csv() -> None:
    data = canonical_json(card(PART, {TABLE.feature: TABLE}, ScorecardParams()))
    shown = view("scorecard.bank", data)
    assert len(shown.rows) == 2 and "base points" in shown.summary
    assert shown.csv is not None and shown.csv.startswith("feature,bin,woe,points\nbasepoints")


def test_job_request_help_lists_every_registered_protocol_and_its_links() -> None:
    import contextlib
    import io

    import pytest

    from alliance.cli.main import main
    from alliance.protocols import PROTOCOLS

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer), pytest.raises(SystemExit):
        main(["job", "request", "--help"])
    text = buffer.getvalue()
    assert all(f"\n{name}: " in text for name in PROTOCOLS)
    assert all(param in text for param in ("alignment_job", "model_job", "bins_job"))
