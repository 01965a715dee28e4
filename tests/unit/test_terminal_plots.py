"""An evaluation's ROC, KS and lift charts in the terminal: drawn from the evaluation output alone,
in the terminal's width, by `job result` and the credit demo unless --no-plot, never with --json."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from alliance.app import results
from alliance.app.model_results import view
from alliance.app.terminal_plots import curves_of, evaluation_charts
from alliance.cli import job_cmds
from alliance.cli.demo.flow import Step
from alliance.cli.demo.report import Reporter
from alliance.cli.main import main
from node.mpc.modelling import evaluation

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _report() -> evaluation.Report:
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 3000)
    return evaluation.report(y, 1 / (1 + np.exp(-(1.5 * y + rng.normal(size=3000) - 0.7))))


def _curves() -> dict[str, Any]:
    return curves_of(json.loads(_report().to_bytes()))


def test_the_curves_are_the_reports_own() -> None:
    rep = _report()
    curves = view("evaluation", rep.to_bytes()).curves
    assert curves is not None
    assert curves["fpr"] == rep.roc_fpr and curves["tpr"] == rep.roc_tpr
    assert curves["lift"] == [d["lift"] for d in rep.deciles]
    assert (curves["auc"], curves["ks"]) == (rep.auc, rep.ks)


@pytest.mark.parametrize(("width", "per_row"), [(80, 2), (120, 3), (60, 1)])
def test_the_charts_fit_the_width_side_by_side_when_there_is_room(width: int,
                                                                  per_row: int) -> None:
    text = evaluation_charts(_curves(), width, color=False)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= width
    assert max(line.count("┌") for line in lines) == per_row
    assert sum(line.count("┌") for line in lines) == 3
    rep = _report()
    assert f"AUC {rep.auc:.4f}" in text and f"KS {rep.ks:.4f}" in text


def test_without_colour_there_is_no_escape_code_and_with_it_there_is() -> None:
    assert not ANSI.search(evaluation_charts(_curves(), 100, color=False))
    coloured = evaluation_charts(_curves(), 100, color=True)
    assert ANSI.search(coloured)
    assert max(len(ANSI.sub("", line)) for line in coloured.splitlines()) <= 100


@pytest.fixture
def evaluation_result(monkeypatch: pytest.MonkeyPatch) -> None:
    """`job result` of an evaluation output as the app layer returns it (no ledger needed)."""
    rep = _report()
    shown = view("evaluation", rep.to_bytes())
    found = results.JobResult("job-e", 1, "evaluation", "table", None, None, None,
                              view=shown.to_dict())

    @contextlib.contextmanager
    def no_session(_args: Any) -> Iterator[None]:
        yield None

    monkeypatch.setattr(job_cmds, "session", no_session)
    monkeypatch.setattr(results, "job_result", lambda *_a, **_k: found)


@pytest.mark.usefixtures("evaluation_result")
def test_job_result_draws_the_charts_under_the_deciles(capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    assert main(["job", "result", "job-e", "--as", "bank"]) == 0
    out = capsys.readouterr().out
    assert out.index("lift and gain by decile") < out.index("ROC") and "KS: cumulative" in out


@pytest.mark.usefixtures("evaluation_result")
def test_job_result_no_plot_prints_the_figures_without_charts(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["job", "result", "job-e", "--as", "bank", "--no-plot"]) == 0
    out = capsys.readouterr().out
    assert "AUC" in out and "decile" in out and "┌" not in out


@pytest.mark.usefixtures("evaluation_result")
def test_job_result_json_has_the_curves_but_no_chart(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["job", "result", "job-e", "--as", "bank", "--json"]) == 0
    out = capsys.readouterr().out
    assert json.loads(out)["view"]["curves"]["fpr"] == _report().roc_fpr


@pytest.mark.parametrize("plots", [True, False])
def test_the_demo_draws_a_steps_charts_unless_told_not_to(
        plots: bool, capsys: pytest.CaptureFixture[str]) -> None:
    reporter = Reporter(plots=plots)
    reporter.step(Step("predict", "Joint prediction", True, "AUC", {"curves": _curves()}))
    reporter.step(Step("train", "Secure LR", True, "no curves here"))
    out = capsys.readouterr().out
    assert out.count("┌") == (3 if plots else 0)
