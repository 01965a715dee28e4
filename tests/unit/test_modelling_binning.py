"""The `binning` protocol over the in-memory transport, checked against toad and scorecardpy in
the clear on the same bins (WOE and IV within 1e-9)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from alliance.canonical import loads
from alliance.errors import ProtocolSpecError
from alliance.protocols import get_protocol_spec
from node.errors import ProtocolAborted
from node.mpc.modelling import binning
from node.mpc.modelling.binning_protocol import ROWS_PER_BIN, BinningProtocol, plan
from node.mpc.modelling.params import BinningParams
from node.mpc.modelling.tables import BinTable, decode_tables
from tests.unit.modelling_helpers import (
    DEALER,
    LABEL,
    germancredit,
    job_for,
    run_all,
    run_with_abort,
    synthetic,
)

OUTPUTS = {"bins.bank": ("bank",), "bins.telecom": ("telecom",), "iv": ("bank", "telecom")}


def scorecardpy_bins(df: pd.DataFrame, y: np.ndarray, table: BinTable) -> pd.DataFrame:
    import scorecardpy as sc

    name = table.feature.split(":")[1]
    frame = pd.DataFrame({name: df[name], "y": y})
    if table.kind == "categorical":
        frame[name] = frame[name].astype(str)
        breaks = list(table.categories)
    else:
        breaks = list(table.breaks)
    bins = sc.woebin(frame, y="y", x=[name], breaks_list={name: breaks}, print_info=False)
    return bins[name]


async def run_binning(inputs: dict, params: dict[str, str]) -> dict:
    job = job_for("binning", inputs, {"label": LABEL, **params}, OUTPUTS)
    return await run_all(BinningProtocol(), job, inputs)


@pytest.mark.parametrize("method", ["quantile", "width", "chimerge", "tree"])
async def test_germancredit_woe_iv_match_scorecardpy_and_toad(method: str) -> None:
    import toad

    inputs, df = germancredit()
    y = inputs["bank"][LABEL]
    results = await run_binning(inputs, {"method": method, "bins": "5", "init_bins": "20"})
    tables = {**decode_tables(results["bank"].outputs["bins.bank"]),
              **decode_tables(results["telecom"].outputs["bins.telecom"])}
    assert len(tables) == 10
    for table in tables.values():
        ours = table.stats()
        expected = scorecardpy_bins(df, y, table)
        assert list(expected["count"]) == table.counts or table.kind == "categorical"
        if table.kind == "numeric":
            assert np.abs(expected["woe"].to_numpy() - ours.woe).max() <= 1e-9
        else:
            theirs = dict(zip(expected["bin"], expected["woe"], strict=True))
            for label, woe in zip(table.labels, ours.woe, strict=True):
                assert abs(theirs[label] - woe) <= 1e-9
        assert abs(float(expected["total_iv"].iloc[0]) - ours.iv) <= 1e-9
        if table.kind == "numeric" and min(table.events) > 0 and min(
                c - e for c, e in zip(table.counts, table.events, strict=True)) > 0:
            name = table.feature.split(":")[1]
            combiner = toad.transform.Combiner()
            combiner.load({name: list(table.breaks)})
            binned = combiner.transform(df[[name]])[name]
            assert abs(toad.stats.IV(binned, y) - ours.iv) <= 1e-9


async def test_iv_goes_to_recipients_identically_and_matches_tables() -> None:
    inputs, _ = germancredit()
    results = await run_binning(inputs, {})
    assert results["bank"].outputs["iv"] == results["telecom"].outputs["iv"]
    ivs = loads(results["bank"].outputs["iv"])["iv"]
    tables = decode_tables(results["telecom"].outputs["bins.telecom"])
    for name, table in tables.items():
        assert float(ivs[name]) == table.stats().iv
    assert results[DEALER].outputs == {}


async def test_synthetic_events_equal_the_clear_counts() -> None:
    inputs = synthetic(3000, 2, 3)
    y = inputs["bank"][LABEL]
    results = await run_binning(inputs, {"bins": "8"})
    for name, table in decode_tables(results["telecom"].outputs["bins.telecom"]).items():
        index = binning.assign(inputs["telecom"][name], np.array(table.breaks))
        assert table.events == np.bincount(index, weights=y, minlength=8).astype(int).tolist()
        assert table.counts == np.bincount(index, minlength=8).tolist()


async def test_missing_values_get_their_own_bin() -> None:
    inputs = synthetic(2000, 1, 1)
    column = inputs["telecom"]["telecom/subs:t0"].copy()
    column[::10] = np.nan
    inputs["telecom"]["telecom/subs:t0"] = column
    results = await run_binning(inputs, {"bins": "4"})
    table = decode_tables(results["telecom"].outputs["bins.telecom"])["telecom/subs:t0"]
    assert table.labels[-1] == "missing" and table.counts[-1] == 200
    assert all(math.isfinite(w) for w in table.stats().woe)


async def test_non_recipients_get_nothing_and_owners_only_their_own_tables() -> None:
    inputs = synthetic(500, 1, 1)
    job = job_for("binning", inputs, {"label": LABEL}, {"bins.telecom": ("telecom",)})
    results = await run_all(BinningProtocol(), job, inputs)
    assert results["bank"].outputs == {} and results[DEALER].outputs == {}
    assert list(results["telecom"].outputs) == ["bins.telecom"]


async def test_a_model_part_to_another_party_is_refused() -> None:
    inputs = synthetic(200, 1, 1)
    job = job_for("binning", inputs, {"label": LABEL}, {"bins.telecom": ("bank",)})
    with pytest.raises(ProtocolAborted, match="goes to its owner telecom alone"):
        await run_all(BinningProtocol(), job, inputs)


async def test_without_a_dealer_the_job_is_refused() -> None:
    inputs = synthetic(200, 1, 1)
    job = job_for("binning", inputs, {"label": LABEL}, OUTPUTS, dealer=None)
    with pytest.raises(ProtocolAborted, match="needs a dealer"):
        await run_all(BinningProtocol(), job, inputs)


async def test_misaligned_row_counts_abort() -> None:
    inputs = synthetic(300, 1, 1)
    inputs["telecom"]["telecom/subs:t0"] = inputs["telecom"]["telecom/subs:t0"][:-1]
    with pytest.raises(ProtocolAborted, match="not aligned alike"):
        await run_binning(inputs, {})


async def test_a_bad_label_aborts_everyone_but_its_text_stays_with_its_owner() -> None:
    inputs = synthetic(300, 1, 1)
    inputs["bank"][LABEL] = inputs["bank"][LABEL] * 2
    job = job_for("binning", inputs, {"label": LABEL}, OUTPUTS)
    outcomes = await run_all(BinningProtocol(), job, inputs, return_exceptions=True)
    for party, outcome in outcomes.items():
        assert isinstance(outcome, ProtocolAborted) and outcome.party == "bank"
        told = "values other than 0 and 1" in outcome.reason
        assert told == (party == "bank")


async def test_a_recipient_without_data_receives_the_ivs_only() -> None:
    inputs = synthetic(400, 1, 1)
    job = job_for("binning", inputs, {"label": LABEL}, {"iv": ("bank", "regulator")},
                  parties=("bank", DEALER, "regulator", "telecom"))
    results = await run_all(BinningProtocol(), job, inputs)
    assert results["regulator"].outputs == {"iv": results["bank"].outputs["iv"]}
    assert sorted(loads(results["regulator"].outputs["iv"])["iv"]) == [
        "bank/loans:x0", "telecom/subs:t0"]


async def test_a_feature_owner_aborting_mid_binning_leaves_nobody_an_output() -> None:
    inputs = synthetic(500, 1, 3)
    job = job_for("binning", inputs, {"label": LABEL}, OUTPUTS)
    outcomes = await run_with_abort(BinningProtocol(), job, inputs, "telecom", "binning.matrix",
                                    1, "telecom: stopped")
    for outcome in outcomes.values():
        assert isinstance(outcome, ProtocolAborted), outcome
        assert outcome.reason == "telecom: stopped"


async def test_a_categorical_column_with_too_many_categories_is_refused() -> None:
    inputs = synthetic(600, 1, 1)
    inputs["telecom"]["telecom/subs:t0"] = np.array([f"c{i}" for i in range(600)])
    outcomes = await run_all(BinningProtocol(), job_for("binning", inputs, {"label": LABEL},
                                                        OUTPUTS), inputs, return_exceptions=True)
    assert all(isinstance(o, ProtocolAborted) for o in outcomes.values())
    assert "has 600 categories" in str(outcomes["telecom"])


def test_small_numeric_bins_merge_with_their_smaller_neighbour() -> None:
    values = np.r_[np.zeros(50), np.ones(3), np.full(40, 2.0), np.full(2, 3.0)]
    breaks = binning.merge_small(values, np.array([0.5, 1.5, 2.5]), 5)
    counts = np.bincount(binning.assign(values, breaks))
    assert counts.min() >= 5 and counts.sum() == len(values)
    assert breaks.tolist() == [0.5]  # the 3 ones join the 40 twos; the 2 threes join them too


async def test_a_rare_category_is_refused_before_its_label_count_is_revealed() -> None:
    inputs = synthetic(300, 1, 1)
    inputs["telecom"]["telecom/subs:t0"] = np.array(["a"] * 297 + ["b"] * 3)
    outcomes = await run_all(BinningProtocol(), job_for("binning", inputs, {"label": LABEL},
                                                        OUTPUTS), inputs, return_exceptions=True)
    assert all(isinstance(o, ProtocolAborted) for o in outcomes.values())
    assert "category of 3 rows ('b'), below min_bin_rows=5" in str(outcomes["telecom"])


async def test_synthetic_woe_iv_match_scorecardpy_and_toad() -> None:
    import toad

    inputs = synthetic(5000, 2, 3, seed=21)
    y = inputs["bank"][LABEL]
    results = await run_binning(inputs, {"method": "chimerge", "bins": "6", "init_bins": "24"})
    tables = {**decode_tables(results["bank"].outputs["bins.bank"]),
              **decode_tables(results["telecom"].outputs["bins.telecom"])}
    frame = pd.DataFrame({name.split(":")[1]: col for p in ("bank", "telecom")
                          for name, col in inputs[p].items() if name != LABEL})
    for name, table in tables.items():
        short = name.split(":")[1]
        expected = scorecardpy_bins(frame, y, table)
        ours = table.stats()
        assert np.abs(expected["woe"].to_numpy() - ours.woe).max() <= 1e-9
        assert abs(float(expected["total_iv"].iloc[0]) - ours.iv) <= 1e-9
        combiner = toad.transform.Combiner()
        combiner.load({short: list(table.breaks)})
        assert abs(toad.stats.IV(combiner.transform(frame[[short]])[short], y) - ours.iv) <= 1e-9


def _owner_equations(rows: int, columns: int, bins: int, seed: int = 1
                     ) -> tuple[np.ndarray, np.ndarray, int]:
    """The bin indicators of `columns` normal columns and the labels they would be solved for."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, rows)
    params = BinningParams(label=LABEL, bins=bins)
    blocks, widths = [], []
    for c in range(columns):
        table, index = plan(f"telecom/subs:x{c}", rng.normal(size=rows), params)
        block = np.zeros((len(table.counts), rows))
        block[index, np.arange(rows)] = 1
        blocks.append(block)
        widths.append(len(table.counts))
    return np.vstack(blocks), y, sum(widths)


def _recovered(a: np.ndarray, y: np.ndarray) -> float:
    guess = np.rint(np.linalg.lstsq(a, a @ y, rcond=None)[0])
    return float(np.mean(guess == y))


@pytest.mark.parametrize("params", [{"bins": "64"},
                                    {"method": "chimerge", "bins": "4", "init_bins": "64"},
                                    {"method": "tree", "bins": "4", "init_bins": "64"}])
async def test_so_many_bins_that_the_labels_could_be_solved_for_are_refused(
        params: dict[str, str]) -> None:
    # the review's attack: 12 columns x 64 bins on 400 rows recover every label by least squares;
    # the supervised methods open their fine bins' counts, so their fine bins are what counts
    a, y, total = _owner_equations(400, 12, 64)
    assert total > 400 // ROWS_PER_BIN and _recovered(a, y) == 1.0
    inputs = synthetic(400, 1, 12)
    outcomes = await run_all(BinningProtocol(), job_for(
        "binning", inputs, {"label": LABEL, **params}, OUTPUTS), inputs,
        return_exceptions=True)
    assert all(isinstance(o, ProtocolAborted) for o in outcomes.values())
    assert "would let telecom solve for the labels" in str(outcomes["bank"])
    assert "bins.telecom" not in str(outcomes["telecom"])


def test_at_the_bin_bound_least_squares_recovers_no_more_than_a_guess() -> None:
    a, y, total = _owner_equations(400, 4, 10)
    assert total <= 400 // ROWS_PER_BIN
    assert _recovered(a, y) < 0.7


def test_min_bin_rows_below_the_floor_is_refused_by_the_schema() -> None:
    with pytest.raises(ProtocolSpecError, match="min_bin_rows"):
        get_protocol_spec("binning").parse_params({"label": LABEL, "min_bin_rows": "1"})


def _fine(values: np.ndarray, y: np.ndarray, init_bins: int, min_rows: int
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The quantile fine bins of the protocol's plan, each row's fine bin, their counts."""
    breaks = binning.merge_small(values, binning.drop_empty(
        values, binning.numeric_breaks(values, "quantile", init_bins)), min_rows)
    index = binning.assign(values, breaks)
    k = len(breaks) + 1
    return (breaks, index, np.bincount(index, weights=y, minlength=k)[:k].astype(np.int64),
            np.bincount(index, minlength=k)[:k])


def _sklearn_cuts(index: np.ndarray, y: np.ndarray, bins: int, min_rows: int) -> list[int]:
    """Where scikit-learn's tree cuts the fine bins: threshold t lies between bins floor(t) and
    ceil(t), so the cut falls before fine bin ceil(t)."""
    from sklearn.tree import DecisionTreeClassifier

    tree = DecisionTreeClassifier(max_leaf_nodes=bins, min_samples_leaf=min_rows)
    tree.fit(index.reshape(-1, 1).astype(np.float64), y)
    thresholds = tree.tree_.threshold[tree.tree_.feature >= 0]
    return sorted(int(np.ceil(t)) for t in thresholds)


@pytest.mark.parametrize(("seed", "bins", "min_rows"), [(1, 5, 5), (2, 8, 30), (3, 3, 5),
                                                         (4, 12, 50)])
def test_tree_cuts_the_fine_bins_where_sklearn_and_toad_do(seed: int, bins: int,
                                                           min_rows: int) -> None:
    import toad

    rng = np.random.default_rng(seed)
    x = rng.gamma(2.0, size=4000)
    y = (rng.random(4000) < 1 / (1 + np.exp(2.5 - 0.8 * x + 0.1 * x * x))).astype(np.int64)
    breaks, index, events, totals = _fine(x, y, 40, min_rows)
    kept, ev, tot = binning.tree_merge(breaks, events, totals, bins, min_rows)
    expected = _sklearn_cuts(index, y, bins, min_rows)
    assert kept.tolist() == [float(breaks[c - 1]) for c in expected]
    combiner = toad.transform.Combiner()
    combiner.fit(pd.DataFrame({"fine": index.astype(np.float64), "y": y}), y="y", method="dt",
                 n_bins=bins, min_samples=min_rows)
    splits = combiner.export()["fine"]
    assert kept.tolist() == [float(breaks[int(np.ceil(t)) - 1]) for t in splits]
    assert tot.sum() == len(x) and ev.sum() == y.sum() and tot.min() >= min_rows
    assert len(tot) <= bins


async def test_tree_bins_of_germancredit_are_sklearns_on_the_same_fine_bins() -> None:
    inputs, _ = germancredit()
    y = inputs["bank"][LABEL]
    params = {"method": "tree", "bins": "5", "init_bins": "20", "min_bin_rows": "9"}
    results = await run_binning(inputs, params)
    tables = decode_tables(results["telecom"].outputs["bins.telecom"])
    numeric = [t for t in tables.values() if t.kind == "numeric"]
    assert numeric  # the telecom's numeric columns went through the dealer-assisted counts
    for table in numeric:
        values = np.asarray(inputs["telecom"][table.feature], dtype=np.float64)
        breaks, index, _, _ = _fine(values, y, 20, 9)
        cuts = _sklearn_cuts(index, y, 5, 9)
        assert table.breaks == [float(breaks[c - 1]) for c in cuts]
        assert min(table.counts) >= 9
