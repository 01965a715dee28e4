"""The `stats` protocol's schema: sum, mean, count, histogram or element-wise sum of numeric
columns held by several members (the protocol itself: node/mpc/stats.py)."""

from __future__ import annotations

import itertools
import re
from decimal import Decimal
from typing import Literal

from pydantic import Field, field_validator, model_validator

from alliance.protocols.spec import NUMERIC_TYPES, DealerRule, InputRule, Params, ProtocolSpec

OPS = ("sum", "mean", "count", "histogram", "elementwise_sum")
DEFAULT_SCALE_BITS = 16
MAX_SCALE_BITS = 32
OUTPUT = "result"
EDGE = re.compile(r"-?\d{1,15}(\.\d{1,12})?")


class StatsParams(Params):
    """Parameters of a stats job."""

    op: Literal["sum", "mean", "count", "histogram", "elementwise_sum"] = Field(
        description="what to compute over all the input columns together"
    )
    bins: tuple[Decimal, ...] | None = Field(
        default=None,
        description="histogram only: comma-separated increasing bin edges, e.g. 0,100,1000 "
        "(bins are [e_i, e_i+1), the last one closed)",
    )
    scale_bits: int = Field(
        default=DEFAULT_SCALE_BITS,
        description=f"fixed-point fraction bits, 0..{MAX_SCALE_BITS} "
        "(16 gives 4 decimal places, 20 gives 6)",
    )

    @field_validator("bins", mode="before")
    @classmethod
    def _split_bins(cls, text: object) -> object:
        if not isinstance(text, str):
            return text
        parts = [part.strip() for part in text.split(",") if part.strip()]
        bad = [part for part in parts if not EDGE.fullmatch(part)]
        if bad:
            raise ValueError(
                f"{bad[0]!r} is not a plain decimal number (at most 15 digits before the point "
                "and 12 after, no exponent); write e.g. 0,100,1000"
            )
        edges = tuple(Decimal(part) for part in parts)
        if len(edges) < 2 or any(b <= a for a, b in itertools.pairwise(edges)):
            raise ValueError("needs at least two strictly increasing edges, e.g. 0,100,1000")
        return edges

    @field_validator("scale_bits", mode="before")
    @classmethod
    def _scale_bits(cls, value: object) -> object:
        try:
            bits = int(str(value).strip())
        except ValueError:
            raise ValueError(f"is not a whole number; use 0..{MAX_SCALE_BITS}") from None
        if not 0 <= bits <= MAX_SCALE_BITS:
            raise ValueError(f"is outside 0..{MAX_SCALE_BITS}; 16 or 20 suit most data")
        return bits

    @model_validator(mode="after")
    def _bins_for_histogram_only(self) -> StatsParams:
        if self.op == "histogram" and self.bins is None:
            raise ValueError(
                "op=histogram needs bins=E0,E1,... (increasing edges, e.g. 0,100,1000)"
            )
        if self.op != "histogram" and self.bins is not None:
            raise ValueError(
                f"bins applies to op=histogram only, not to op={self.op}; leave it out"
            )
        return self

    @property
    def edges(self) -> tuple[Decimal, ...]:
        return self.bins or ()


STATS = ProtocolSpec(
    name="stats",
    summary="sum, mean, count, histogram or element-wise sum of numeric columns across members",
    params=StatsParams,
    outputs={OUTPUT: "the statistic, identical at every recipient"},
    inputs=InputRule(
        min_inputs=1,
        column_types=NUMERIC_TYPES,
        summary="one or more numeric (integer or decimal) columns",
    ),
    dealer=DealerRule.OPTIONAL,
)
