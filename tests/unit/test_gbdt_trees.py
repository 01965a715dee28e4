"""The plaintext maths of boosting (trees.py, binned.py, model.py): exact histograms whatever the
magnitudes, the split rule's constraints, and parts that read back to what was written."""

from __future__ import annotations

import numpy as np
import pytest

from alliance.protocols.gbdt import GbdtTrainParams
from node.errors import InputValueError
from node.mpc.modelling.gbdt import trees as T
from node.mpc.modelling.gbdt.binned import FeatureBins, by_quantile
from node.mpc.modelling.gbdt.model import PassivePart

PARAMS = GbdtTrainParams(label="bank/l:y")


def exact(bins_t: np.ndarray, values: np.ndarray, rows: np.ndarray, n_bins: int) -> np.ndarray:
    out = np.zeros((bins_t.shape[0], n_bins, values.shape[1]), dtype=np.uint64)
    for f in range(bins_t.shape[0]):
        np.add.at(out[f], bins_t[f, rows], values[rows])
    return out.view(np.int64)


@pytest.mark.parametrize("scale", [1.0, 2.0 ** 40])
def test_histograms_are_exact_sums_mod_2_64_small_or_huge(scale: float) -> None:
    rng = np.random.default_rng(3)
    bins_t = rng.integers(0, 7, (3, 5000)).astype(np.uint8)
    values = T.encode(rng.normal(size=(5000, 2)) * scale, 20)
    rows = np.sort(rng.choice(5000, 3000, replace=False))
    with np.errstate(over="ignore"):
        assert np.array_equal(T.histogram(bins_t, values, rows, 8), exact(bins_t, values, rows, 8))


def test_a_split_leaving_a_child_below_min_child_weight_is_not_taken() -> None:
    hist = np.zeros((1, 3, 2), dtype=np.int64)
    one = 1 << PARAMS.scale_bits
    hist[0, :, 0] = [-5 * one, 5 * one, 5 * one]
    hist[0, :, 1] = [1 * one // 2, 4 * one, 4 * one]
    allowed = np.ones(1, dtype=bool)
    best = T.best_split(hist, allowed, PARAMS)
    assert best is not None and (best.feature, best.bin) == (0, 1)  # bin 0 alone: h 0.5 < 1
    assert T.best_split(hist, np.zeros(1, dtype=bool), PARAMS) is None


def test_gamma_above_the_best_gain_makes_a_leaf() -> None:
    hist = np.zeros((1, 2, 2), dtype=np.int64)
    one = 1 << PARAMS.scale_bits
    hist[0] = [[-3 * one, 5 * one], [3 * one, 5 * one]]
    gain = T.best_split(hist, np.ones(1, dtype=bool), PARAMS)
    assert gain is not None
    strict = PARAMS.model_copy(update={"gamma": gain.gain + 1})
    assert T.best_split(hist, np.ones(1, dtype=bool), strict) is None


def test_gradients_too_large_for_the_fixed_point_range_are_refused() -> None:
    with pytest.raises(InputValueError, match="overflow the fixed-point range"):
        T.encoded_gh("squared", np.zeros(10), np.full(10, 1e15), np.ones(10, dtype=bool), 20)


def test_quantile_bins_put_missing_values_last_and_refuse_unseen_categories() -> None:
    spec = by_quantile("bank/l:x", np.array([1.0, 2.0, np.nan, 3.0, 4.0]), 4)
    assert spec.bin_of(np.array([np.nan]))[0] == spec.width - 1
    cats = by_quantile("bank/l:c", np.array(["a", "b"]), 4)
    with pytest.raises(InputValueError, match="unseen when the model was trained"):
        cats.bin_of(np.array(["z"]))


def test_a_passive_part_reads_back_with_its_thresholds_in_words() -> None:
    spec = FeatureBins("telecom/s:t", "numeric", (0.5, 1.5))
    part = PassivePart("job-1", "telecom", "bank", [spec], {(0, 2): (0, 1)},
                       {"telecom/s:t": (3.25, 1)})
    data = part.to_bytes()
    assert b"telecom/s:t < 1.5" in data
    back = PassivePart.from_bytes(data)
    assert back.splits == part.splits and back.importance == part.importance


def test_packed_gradient_sums_unpack_to_the_same_integers() -> None:
    rng = np.random.default_rng(8)
    rows, s = 20000, 16
    assert T.packs("logistic", rows, s) and not T.packs("logistic", rows, 20)
    assert not T.packs("squared", 10, 12)
    g = rng.uniform(-1, 1, rows)
    values = np.stack([T.encode(g, s), T.encode(np.abs(g) / 4, s)], axis=1)
    bins_t = rng.integers(0, 5, (2, rows)).astype(np.uint8)
    idx = np.arange(rows)
    with np.errstate(over="ignore"):
        packed = T.histogram(bins_t, T.pack(values), idx, 5)
    assert np.array_equal(T.unpack(packed), T.histogram(bins_t, values, idx, 5))
