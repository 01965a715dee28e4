"""Fixed-point encoding of decimals into Z_2^64, and back into canonical decimal strings.

A value x is carried as the integer round(x · 2^s) (s = `scale_bits`, default 16), in two's
complement as a uint64 so that numpy's wrapping arithmetic is arithmetic mod 2^64.

Range and resolution: every value, every party's local total and the final total must satisfy
|x| < 2^(63 - s). With s = 16 that is ±1.4·10^14 at a resolution of 1.5·10^-5; with s = 20,
±8.8·10^12 at 9.5·10^-7. Inputs outside the range are refused (the party checks its own values
and its own total); a joint total that overflows cannot be detected without revealing more, so
choose s for the expected magnitude. Results are rounded (half to even) to `decimal_places(s)`
digits, the digits the scale actually resolves (s = 16 → 4, s = 20 → 6).

Integers are encoded exactly; floats through one multiplication and rint (exact for floats, which
are binary fractions, up to the scale's resolution); strings and Decimals through Decimal.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

import numpy as np

from alliance.protocols.stats import DEFAULT_SCALE_BITS as DEFAULT_SCALE_BITS
from alliance.protocols.stats import MAX_SCALE_BITS
from node.errors import InputValueError, ProtocolError

_MOD = 1 << 64


def check_scale_bits(scale_bits: int) -> int:
    if not 0 <= scale_bits <= MAX_SCALE_BITS:
        raise ProtocolError(
            f"scale_bits {scale_bits} is outside 0..{MAX_SCALE_BITS}; 16 or 20 suit most data"
        )
    return scale_bits


def value_limit(scale_bits: int) -> int:
    """Values and totals must stay strictly below this magnitude."""
    return 1 << (63 - scale_bits)


def decimal_places(scale_bits: int) -> int:
    """Decimal digits a scale of 2^s resolves: the largest d with 10^d <= 2^s."""
    places = 0
    while 10 ** (places + 1) <= (1 << scale_bits):
        places += 1
    return places


def encode(values: np.ndarray, scale_bits: int, name: str = "column") -> np.ndarray:
    """Encode a numeric column as uint64 fixed point; refuses NaN, infinities and out-of-range
    values with InputValueError (its `row` counts data rows from 1)."""
    check_scale_bits(scale_bits)
    limit = value_limit(scale_bits)
    array = np.asarray(values)
    if array.dtype == np.bool_:
        array = array.astype(np.int64)
    if array.dtype.kind in "iu":
        if array.size and (int(array.max()) >= limit or int(array.min()) <= -limit):
            raise InputValueError(
                f"{name} holds integers beyond ±2^{63 - scale_bits}, the range at scale_bits="
                f"{scale_bits}; request the job with a smaller scale_bits"
            )
        return np.left_shift(array.astype(np.int64), scale_bits).view(np.uint64)
    if array.dtype.kind == "f":
        floats = array.astype(np.float64, copy=False)
        if not np.isfinite(floats).all():
            bad = int(np.count_nonzero(~np.isfinite(floats)))
            raise InputValueError(
                f"{name} holds {bad} NaN or infinite values; clean the column first"
            )
        scaled = np.multiply(floats, float(1 << scale_bits))
        np.rint(scaled, out=scaled)
        if scaled.size and (scaled.max() >= 2.0**63 or scaled.min() <= -(2.0**63)):
            raise InputValueError(
                f"{name} holds values beyond ±2^{63 - scale_bits}, the range at scale_bits="
                f"{scale_bits}; request the job with a smaller scale_bits"
            )
        return scaled.astype(np.int64).view(np.uint64)
    if array.dtype.kind in "OUS":
        return _encode_decimals(array, scale_bits, name)
    raise InputValueError(f"{name} has dtype {array.dtype}, which is not numeric")


def _encode_decimals(array: np.ndarray, scale_bits: int, name: str) -> np.ndarray:
    limit = value_limit(scale_bits) << scale_bits
    out = np.empty(array.shape, dtype=np.int64)
    flat = out.reshape(-1)
    for index, item in enumerate(array.reshape(-1)):
        text = item.decode() if isinstance(item, bytes) else item
        try:
            number = Decimal(text) if isinstance(text, str) else Decimal(item)
        except (InvalidOperation, TypeError, ValueError):
            raise InputValueError(f"{name} data row {index + 1} is {item!r}, not a number",
                                  row=index + 1) from None
        if not number.is_finite():
            raise InputValueError(f"{name} data row {index + 1} is {item!r}, not a finite number",
                                  row=index + 1)
        word = int((number * (1 << scale_bits)).to_integral_value(ROUND_HALF_EVEN))
        if abs(word) >= limit:
            raise InputValueError(
                f"{name} data row {index + 1} ({item!r}) is beyond ±2^{63 - scale_bits}, the range "
                f"at scale_bits={scale_bits}; request the job with a smaller scale_bits",
                row=index + 1,
            )
        flat[index] = word
    return out.view(np.uint64)


def to_float(values: np.ndarray) -> np.ndarray:
    """A numeric or decimal-string column as float64 (for binning)."""
    array = np.asarray(values)
    if array.dtype.kind in "biuf":
        return array.astype(np.float64, copy=False)
    try:
        return np.array([float(Decimal(v.decode() if isinstance(v, bytes) else v)) for v in array],
                        dtype=np.float64)
    except (InvalidOperation, TypeError, ValueError) as exc:
        raise InputValueError(f"column holds a value that is not a number ({exc})") from exc


def signed(word: int) -> int:
    """A uint64 word as the signed integer it encodes."""
    word %= _MOD
    return word - _MOD if word >= 1 << 63 else word


def divide_round(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded half to even, in exact integer arithmetic."""
    if denominator <= 0:
        raise ValueError("denominator must be positive")
    quotient, remainder = divmod(numerator, denominator)
    twice = 2 * remainder
    if twice > denominator or (twice == denominator and quotient % 2 == 1):
        quotient += 1
    return quotient


def to_decimal_string(word: int, scale_bits: int, divisor: int = 1) -> str:
    """The canonical decimal string of word / (2^s · divisor), rounded to the scale's places."""
    places = decimal_places(scale_bits)
    units = divide_round(signed(word) * 10**places, (1 << scale_bits) * divisor)
    return canonical_decimal(Decimal(units).scaleb(-places))


def canonical_decimal(number: Decimal) -> str:
    """Plain notation, no exponent, no trailing zeros, no negative zero: '12.5', '-3', '0'."""
    if number == 0:
        return "0"
    return format(number.normalize(), "f")


def decode_vector(words: np.ndarray, scale_bits: int) -> np.ndarray:
    """uint64 fixed-point words as float64, rounded to the scale's decimal places."""
    values = words.view(np.int64).astype(np.float64)
    values *= 2.0 ** -scale_bits
    return np.round(values, decimal_places(scale_bits))
