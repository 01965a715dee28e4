"""`gbdt_train` over the in-memory transport with the real secure selection: it grows exactly the
trees of the plaintext reference (same owners, features, bins; leaf values equal), delivers each
part to its owner alone, and leaves no model when a party fails mid-training."""

from __future__ import annotations

import numpy as np
import pytest

from node.errors import ProtocolAborted
from node.mpc.modelling.gbdt.model import ActivePart, PassivePart
from node.mpc.modelling.gbdt.train_protocol import STEP_HIST, GbdtTrainProtocol
from tests.unit.gbdt_helpers import clear_fit, joined_trees, secure_fit
from tests.unit.modelling_helpers import LABEL, job_for, run_with_abort, synthetic


@pytest.mark.parametrize("params", [
    {"n_trees": "4", "max_depth": "3", "max_bin": "8"},
    {"n_trees": "6", "max_depth": "2", "max_bin": "16", "subsample": "0.7", "colsample": "0.6",
     "reg_lambda": "2", "gamma": "0.5", "min_child_weight": "3", "learning_rate": "0.5",
     "seed": "3"},
    {"n_trees": "30", "max_depth": "2", "max_bin": "8", "validation_fraction": "0.3",
     "patience": "2", "learning_rate": "0.8"},
    {"n_trees": "3", "max_depth": "3", "max_bin": "8", "objective": "squared"},
])
async def test_secure_training_grows_the_reference_trees(params: dict[str, str]) -> None:
    inputs = synthetic(600, 2, 3)
    results = await secure_fit(inputs, params)
    fit = clear_fit(inputs, params)
    trees = joined_trees(results)
    assert len(trees) == len(fit.trees) >= 1
    assert any(s.owner == "telecom" for t in trees for s in t.splits.values())
    for mine, clear in zip(trees, fit.trees, strict=True):
        assert mine.splits == clear.splits
        assert mine.leaves.keys() == clear.leaves.keys()
        assert all(abs(mine.leaves[n] - clear.leaves[n]) < 1e-12 for n in mine.leaves)
    active = ActivePart.from_bytes(results["bank"].outputs["model.bank"])
    assert active.base_margin == fit.base_margin
    assert active.validation_loss == pytest.approx(fit.validation_loss, abs=1e-12)


async def test_three_parties_and_importance_to_each_owner_alone() -> None:
    inputs = synthetic(500, 1, 2, seed=8)
    inputs["retail"] = {"retail/b:r0": inputs["telecom"].pop("telecom/subs:t1")}
    params = {"n_trees": "3", "max_depth": "3", "max_bin": "8"}
    results = await secure_fit(inputs, params)
    fit = clear_fit(inputs, params)
    assert [t.splits for t in joined_trees(results)] == [t.splits for t in fit.trees]
    for org, result in results.items():
        assert list(result.outputs) == [f"model.{org}"]
    retail = PassivePart.from_bytes(results["retail"].outputs["model.retail"])
    assert list(retail.importance) == ["retail/b:r0"]
    gain, count = retail.importance["retail/b:r0"]
    assert (gain, count) == pytest.approx(fit.importance("retail", 1)[0], rel=1e-12)
    assert [f.name for f in retail.features] == ["retail/b:r0"]
    bank = ActivePart.from_bytes(results["bank"].outputs["model.bank"])
    assert list(bank.importance) == ["bank/loans:x0"]


async def test_a_passive_part_holds_only_its_own_splits() -> None:
    inputs = synthetic(500, 2, 2, seed=4)
    results = await secure_fit(inputs, {"n_trees": "3", "max_depth": "3", "max_bin": "8"})
    active = ActivePart.from_bytes(results["bank"].outputs["model.bank"])
    telecom = PassivePart.from_bytes(results["telecom"].outputs["model.telecom"])
    owned = {(t, n) for t, tree in enumerate(active.trees) for n, s in tree.splits.items()
             if s.owner == "telecom"}
    assert set(telecom.splits) == owned
    assert all(s.feature == -1 and s.bin == -1 for tree in active.trees
               for s in tree.splits.values() if s.owner == "telecom")
    assert b"leaves" not in results["telecom"].outputs["model.telecom"]


async def test_a_party_failing_mid_training_fails_the_job_for_all_with_no_model() -> None:
    inputs = synthetic(400, 2, 2)
    job = job_for("gbdt_train", inputs, {"label": LABEL, "n_trees": "5", "max_depth": "3"},
                  {"model.bank": ("bank",), "model.telecom": ("telecom",)}, dealer=None)
    outcomes = await run_with_abort(GbdtTrainProtocol(), job, inputs, "telecom", STEP_HIST, 4,
                                    "telecom's node was stopped")
    assert all(isinstance(o, ProtocolAborted) for o in outcomes.values())


async def test_a_label_that_is_not_binary_is_refused_for_logistic() -> None:
    inputs = synthetic(300, 1, 1)
    inputs["bank"][LABEL] = inputs["bank"][LABEL] * 2.5
    with pytest.raises(Exception, match="other than 0 and 1"):
        await secure_fit(inputs, {"n_trees": "1"})


async def test_squared_error_takes_a_numeric_label() -> None:
    inputs = synthetic(300, 1, 2)
    rng = np.random.default_rng(1)
    inputs["bank"][LABEL] = inputs["telecom"]["telecom/subs:t0"] * 3 + rng.normal(size=300)
    params = {"n_trees": "3", "max_depth": "2", "max_bin": "8", "objective": "squared"}
    results = await secure_fit(inputs, params)
    assert [t.splits for t in joined_trees(results)] == [
        t.splits for t in clear_fit(inputs, params).trees]


async def test_bins_of_a_binning_job_are_the_trees_bins() -> None:
    from node.mpc.modelling.binning_protocol import BinningProtocol
    from node.mpc.modelling.features import WOE_KEY
    from node.mpc.modelling.gbdt import reference
    from node.mpc.modelling.gbdt.binned import from_table
    from node.mpc.modelling.gbdt.params import GbdtTrainParams
    from node.mpc.modelling.tables import decode_tables
    from tests.unit.modelling_helpers import run_all

    inputs = synthetic(600, 2, 2, seed=12)
    outputs = {"bins.bank": ("bank",), "bins.telecom": ("telecom",)}
    binned = await run_all(BinningProtocol(), job_for("binning", inputs, {
        "label": LABEL, "bins": "6"}, outputs), inputs)
    tables = {p: binned[p].outputs[f"bins.{p}"] for p in ("bank", "telecom")}
    with_bins = {p: {**cols, WOE_KEY: np.frombuffer(tables[p], dtype=np.uint8)}
                 for p, cols in inputs.items()}
    params = {"n_trees": "3", "max_depth": "3"}
    results = await secure_fit(with_bins, params)
    clear = [(p, np.stack([from_table(t).bin_of(inputs[p][name])
                           for name, t in decode_tables(tables[p]).items()]))
             for p in ("bank", "telecom")]
    fit = reference.fit(clear, inputs["bank"][LABEL], GbdtTrainParams(label=LABEL, **params))
    assert [t.splits for t in joined_trees(results)] == [t.splits for t in fit.trees]
    assert max(b for _, bins in clear for b in bins.max(axis=1)) <= 5
