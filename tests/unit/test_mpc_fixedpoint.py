"""Fixed-point encoding: exact round trips, range checks, canonical decimal strings."""

from __future__ import annotations

import numpy as np
import pytest

from node.errors import ProtocolError
from node.mpc import fixedpoint


def test_floats_round_trip_within_resolution() -> None:
    values = np.array([0.0, 1.25, -3.5, 123456.789, -0.0001])
    words = fixedpoint.encode(values, 16)
    assert words.dtype == np.uint64
    back = words.view(np.int64) / 2.0**16
    assert np.abs(back - values).max() <= 2.0**-17


def test_integers_encode_exactly() -> None:
    values = np.array([0, 1, -7, 2**40], dtype=np.int64)
    words = fixedpoint.encode(values, 20)
    assert (words.view(np.int64) >> 20).tolist() == values.tolist()


def test_decimal_strings_encode_like_numbers() -> None:
    words = fixedpoint.encode(np.array(["1.5", "-2.25", "10"], dtype=object), 16)
    assert fixedpoint.to_decimal_string(int(words.sum(dtype=np.uint64)), 16) == "9.25"


def test_values_beyond_the_range_are_refused() -> None:
    with pytest.raises(ProtocolError, match="scale_bits"):
        fixedpoint.encode(np.array([2.0**48]), 16)
    with pytest.raises(ProtocolError, match="scale_bits"):
        fixedpoint.encode(np.array([2**47], dtype=np.int64), 16)


def test_nan_is_refused() -> None:
    with pytest.raises(ProtocolError, match="NaN"):
        fixedpoint.encode(np.array([1.0, np.nan]), 16)


def test_non_numbers_are_refused() -> None:
    with pytest.raises(ProtocolError, match="not a number"):
        fixedpoint.encode(np.array(["1", "abc"], dtype=object), 16)


def test_negative_totals_decode_through_twos_complement() -> None:
    words = fixedpoint.encode(np.array([-2.5, 1.0]), 16)
    total = int(np.sum(words, dtype=np.uint64))
    assert fixedpoint.to_decimal_string(total, 16) == "-1.5"


def test_decimal_strings_are_canonical() -> None:
    assert fixedpoint.to_decimal_string(0, 16) == "0"
    assert fixedpoint.to_decimal_string(100 << 16, 16) == "100"
    assert fixedpoint.to_decimal_string(3 << 16, 16, divisor=2) == "1.5"
    # 0.1 is not a binary fraction: rounded to the 4 places 2^16 resolves.
    assert fixedpoint.to_decimal_string(int(fixedpoint.encode(np.array([0.1]), 16)[0]), 16) == "0.1"


def test_decimal_places_follow_the_scale() -> None:
    assert fixedpoint.decimal_places(16) == 4
    assert fixedpoint.decimal_places(20) == 6


def test_division_rounds_half_to_even() -> None:
    assert fixedpoint.divide_round(5, 2) == 2
    assert fixedpoint.divide_round(7, 2) == 4
    assert fixedpoint.divide_round(-5, 2) == -2
    assert fixedpoint.divide_round(-7, 2) == -4
    assert fixedpoint.divide_round(10, 3) == 3


def test_scale_bits_out_of_range_is_refused() -> None:
    with pytest.raises(ProtocolError, match="scale_bits"):
        fixedpoint.check_scale_bits(40)
