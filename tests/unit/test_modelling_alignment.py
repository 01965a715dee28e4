"""Row alignment by a PSI intersection and the declared preprocessing recipe."""

from __future__ import annotations

import numpy as np
import pytest

from node.errors import ProtocolAborted, ProtocolError
from node.mpc.modelling import alignment, preprocessing
from node.mpc.modelling.alignment import ALIGNMENT_KEY
from node.mpc.modelling.binning_protocol import BinningProtocol
from node.mpc.modelling.tables import decode_tables
from node.mpc.psi.protocol import encode_intersection
from tests.unit.modelling_helpers import LABEL, job_for, run_all, synthetic


def test_rows_follow_the_intersection_order() -> None:
    ids = np.array([" c3", "a1", "b2", "d4"], dtype=object)
    intersection = alignment.parse_intersection(b"a1\nb2\nc3")
    order = alignment.alignment_order(ids, intersection)
    assert order.tolist() == [1, 2, 0]


def test_an_intersection_id_missing_here_is_an_error() -> None:
    with pytest.raises(ProtocolError, match="1 ids of the alignment PSI's intersection"):
        alignment.alignment_order(np.array(["a1", "b2"]), np.array([b"a1", b"zz"]))


def test_a_duplicated_id_is_an_error() -> None:
    with pytest.raises(ProtocolError, match="appear on several rows"):
        alignment.alignment_order(np.array(["a1", "a1", "b2"]), np.array([b"a1"]))


def test_long_ids_are_not_truncated_to_the_intersection_width() -> None:
    with pytest.raises(ProtocolError, match="not in this party's id column"):
        alignment.alignment_order(np.array(["abc-long"]), np.array([b"abc"]))


def u8(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype=np.uint8)


async def test_parties_with_shuffled_rows_align_by_the_psi_output() -> None:
    inputs = synthetic(1500, 1, 2)
    ids = np.array([f"cust{i:05d}" for i in range(1500)])
    aligned = await run_all(BinningProtocol(), job_for(
        "binning", inputs, {"label": LABEL}, {"bins.telecom": ("telecom",)}), inputs)
    # Same people, each party in its own row order, plus rows the other does not hold.
    rng = np.random.default_rng(8)
    shuffled: dict = {}
    intersection = encode_intersection(ids.astype("S"))
    for party, cols in inputs.items():
        perm = rng.permutation(1500)
        extra = 50 if party == "telecom" else 0
        own_ids = np.r_[ids[perm], [f"other{i}" for i in range(extra)]]
        shuffled[party] = {
            **{k: np.r_[v[perm], np.zeros(extra)] for k, v in cols.items()},
            f"{party}/ids:id": own_ids, ALIGNMENT_KEY: u8(intersection),
        }
    params = {"label": LABEL, "ids": "bank/ids:id,telecom/ids:id"}
    job = job_for("binning", shuffled, params, {"bins.telecom": ("telecom",)})
    results = await run_all(BinningProtocol(), job, shuffled)
    ours = decode_tables(results["telecom"].outputs["bins.telecom"])
    before = decode_tables(aligned["telecom"].outputs["bins.telecom"])
    assert {k: t.events for k, t in ours.items()} == {k: t.events for k, t in before.items()}


async def test_parties_aligned_by_different_intersections_are_refused() -> None:
    inputs = synthetic(20, 1, 1)
    ids = np.array([f"c{i:02d}" for i in range(20)])
    # Two PSI outputs of the same size (19 ids) but not the same ids.
    for party, chosen in (("bank", ids[:19]), ("telecom", ids[1:])):
        inputs[party][f"{party}/ids:id"] = ids
        inputs[party][ALIGNMENT_KEY] = u8(encode_intersection(chosen.astype("S")))
    job = job_for("binning", inputs, {"label": LABEL, "ids": "bank/ids:id,telecom/ids:id"},
                  {"bins.telecom": ("telecom",)})
    with pytest.raises(ProtocolAborted, match="not aligned alike"):
        await run_all(BinningProtocol(), job, inputs)


def test_recipe_fills_clips_standardises_and_one_hot_encodes() -> None:
    recipe = preprocessing.Recipe.parse(
        '{"steps": [{"column": "bk/d:x", "fill": "median", "clip_quantiles": [0, 0.5],'
        ' "standardize": true}, {"column": "bk/d:c", "one_hot": true}]}'
    )
    out = preprocessing.apply(recipe, {"bk/d:x": np.array([1.0, np.nan, 30.0, 3.0]),
                                       "bk/d:c": np.array(["red", "blue", "green", "red"])})
    assert list(out) == ["bk/d:x", "bk/d:c=green", "bk/d:c=red"]  # "blue": the reference level
    x = np.array([1.0, 3.0, 3.0, 3.0])  # median fill 3, then clipped at the median, 3
    assert np.allclose(out["bk/d:x"], (x - x.mean()) / x.std())
    assert out["bk/d:c=red"].tolist() == [1, 0, 0, 1]
    assert out["bk/d:c=green"].tolist() == [0, 0, 1, 0]


def test_a_model_parts_categories_are_encoded_at_prediction() -> None:
    recipe = preprocessing.Recipe.parse('{"steps": [{"column": "bk/d:c", "one_hot": true}]}')
    out = preprocessing.apply(recipe, {"bk/d:c": np.array(["red", "red"])},
                              {"bk/d:c": ["green", "red"]})
    assert list(out) == ["bk/d:c=green", "bk/d:c=red"]


def test_recipe_fingerprint_is_canonical_and_changes_with_the_recipe() -> None:
    a = preprocessing.Recipe.parse('{"steps": [{"column": "bk/d:x", "clip_quantiles": [0, 0.5]}]}')
    b = preprocessing.Recipe.parse('{"steps":[{"clip_quantiles":[0.0,0.5],"column":"bk/d:x"}]}')
    c = preprocessing.Recipe.parse('{"steps": [{"column": "bk/d:x", "clip_quantiles": [0, 1]}]}')
    assert a.fingerprint() == b.fingerprint() != c.fingerprint()
    assert a.fingerprint().startswith("sha256:")


def test_a_malformed_recipe_says_what_is_wrong() -> None:
    with pytest.raises(ProtocolError, match="not a valid preprocessing recipe"):
        preprocessing.parse_recipe('{"steps": [{"column": "bk/d:x", "fill": "mode"}]}')


def test_the_psi_csv_output_parses_to_its_ids_quoted_or_not() -> None:
    ids = np.array([b"a,1", b'b"2', b"c3"], dtype="S")
    assert alignment.parse_intersection(encode_intersection(ids)).tolist() == sorted(ids.tolist())
    plain = np.array([b"x2", b"x1"], dtype="S")
    assert alignment.parse_intersection(encode_intersection(plain)).tolist() == [b"x1", b"x2"]
    assert alignment.parse_intersection(encode_intersection(np.zeros(0, "S1"))).size == 0
