"""The protocol schemas (alliance.protocols): parameters, shapes, registry and help text."""

from __future__ import annotations

from decimal import Decimal

import pytest

from alliance.errors import ProtocolSpecError
from alliance.protocols import (
    PROTOCOLS,
    PSI,
    STATS,
    JobShape,
    Normalization,
    ShapeInput,
    get_protocol_spec,
    render_protocols,
)


def shape(*inputs: tuple[str, str, str | None], outputs: dict | None = None,
          dealer: str | None = None) -> JobShape:
    return JobShape(
        inputs=tuple(ShapeInput(ref, owner, kind) for ref, owner, kind in inputs),
        outputs=outputs or {"result": ["bank"]},
        dealer=dealer,
    )


BANK_AMOUNT = ("bank/customers:amount", "bank", "integer")
TELECOM_AMOUNT = ("telecom/subscribers:amount", "telecom", "decimal")
BANK_ID = ("bank/customers:id", "bank", "string")
TELECOM_ID = ("telecom/subscribers:id", "telecom", "string")


def test_registry_holds_stats_and_psi_and_names_them_for_unknown() -> None:
    assert PROTOCOLS["stats"] is STATS and PROTOCOLS["psi"] is PSI
    with pytest.raises(ProtocolSpecError, match="unknown protocol 'magic'; known protocols: "
                                                "binning, gbdt_predict, gbdt_train, lr_predict, "
                                                "lr_train, psi, scorecard, stats"):
        get_protocol_spec("magic")


def test_unknown_op_lists_the_ops() -> None:
    with pytest.raises(ProtocolSpecError) as err:
        STATS.parse_params({"op": "median"})
    assert str(err.value) == (
        "stats parameter op='median' is not one of sum, mean, count, histogram, elementwise_sum"
    )


def test_missing_op_is_refused() -> None:
    assert STATS.param_problems({}) == [
        "stats needs parameter op (what to compute over all the input columns together)"
    ]


def test_histogram_needs_bins() -> None:
    with pytest.raises(ProtocolSpecError, match="op=histogram needs bins="):
        STATS.parse_params({"op": "histogram"})


def test_bins_are_refused_for_other_ops() -> None:
    with pytest.raises(ProtocolSpecError, match="bins applies to op=histogram only"):
        STATS.parse_params({"op": "sum", "bins": "0,1"})


@pytest.mark.parametrize(
    "bins", ["0,x", "5,1", "3", "0,inf", "0,NaN", "", "0,1e9999", "0,1.0000000000001"]
)
def test_bad_bins_are_refused(bins: str) -> None:
    assert STATS.param_problems({"op": "histogram", "bins": bins})


def test_histogram_bins_parse_to_decimals() -> None:
    params = STATS.parse_params({"op": "histogram", "bins": " 0, 1.5 ,10"})
    assert params.bins == (Decimal("0"), Decimal("1.5"), Decimal("10"))


@pytest.mark.parametrize("bits", ["-1", "33", "x", "1.5"])
def test_scale_bits_out_of_range_or_not_a_number_is_refused(bits: str) -> None:
    problems = STATS.param_problems({"op": "sum", "scale_bits": bits})
    assert problems and "0..32" in problems[0]


def test_scale_bits_defaults_to_16_and_parses() -> None:
    assert STATS.parse_params({"op": "sum"}).scale_bits == 16
    assert STATS.parse_params({"op": "sum", "scale_bits": "20"}).scale_bits == 20


def test_unknown_parameter_is_refused_with_the_known_ones() -> None:
    assert STATS.param_problems({"op": "sum", "colour": "red"}) == [
        "stats has no parameter 'colour'; its parameters are: op, bins, scale_bits, run_seconds"
    ]


def test_psi_engine_and_normalize_are_checked() -> None:
    assert PSI.param_problems({"engine": "fast"}) == [
        "psi parameter engine='fast' is not one of auto, ecdh, kkrt"
    ]
    problems = PSI.param_problems({"normalize": "bogus"})
    assert len(problems) == 1 and "unknown normalisation step(s) bogus" in problems[0]
    assert PSI.param_problems({"normalize": "nfc,nfkc"})


def test_psi_defaults() -> None:
    params = PSI.parse_params({})
    assert params.engine == "auto"
    assert params.normalize == Normalization.parse("trim,nfc")
    assert PSI.parse_params({"normalize": "lower,trim"}).normalize == Normalization(
        form=None, trim=True, case="lower")


def test_stats_on_a_string_column_is_a_problem() -> None:
    problems = STATS.shape_problems(shape(BANK_ID, TELECOM_AMOUNT))
    assert problems == [
        "stats cannot use input bank/customers:id: its column is of type string, and stats takes "
        "integer or decimal columns"
    ]


def test_stats_on_numeric_columns_fits_and_an_unknown_type_is_not_judged() -> None:
    assert STATS.shape_problems(shape(BANK_AMOUNT, TELECOM_AMOUNT)) == []
    assert STATS.shape_problems(shape(("bank/customers:amount", "bank", None))) == []


def test_unknown_output_is_a_problem() -> None:
    problems = STATS.shape_problems(shape(BANK_AMOUNT, outputs={"model": ["bank"]}))
    assert problems == ["protocol 'stats' has no output 'model'; its outputs are: result"]


def test_psi_shape_rules() -> None:
    ok = {"intersection": ["bank"], "cardinality": ["bank", "telecom"]}
    assert PSI.shape_problems(shape(BANK_ID, TELECOM_ID, outputs=ok)) == []
    one_owner = shape(BANK_ID, ("bank/customers:amount", "bank", "integer"), outputs=ok)
    assert "exactly two id columns held by two different members" in PSI.shape_problems(
        one_owner)[0]
    stranger = shape(BANK_ID, TELECOM_ID, outputs={"intersection": ["platform"]})
    assert PSI.shape_problems(stranger) == [
        "psi outputs can go only to the input owners, not to platform"
    ]
    dealt = shape(BANK_ID, TELECOM_ID, outputs=ok, dealer="platform")
    assert PSI.shape_problems(dealt) == ["psi needs no dealer; leave the dealer out"]


def test_check_reports_every_problem_at_once() -> None:
    with pytest.raises(ProtocolSpecError) as err:
        STATS.check(shape(BANK_ID), {"op": "median"})
    assert "type string" in str(err.value) and "op='median'" in str(err.value)


def test_help_lists_protocols_ops_params_and_defaults() -> None:
    text = render_protocols()
    for expected in (
        "stats: sum, mean, count",
        "op (required): one of sum, mean, count, histogram, elementwise_sum",
        "bins (optional)",
        "scale_bits (default 16)",
        "psi: private set intersection",
        "engine (default auto): one of auto, ecdh, kkrt",
        "normalize (default nfc,trim)",
        "intersection: ",
        "no dealer",
    ):
        assert expected in text, expected
