"""The `psi` protocol's schema: private set intersection of two members' id columns (the protocol
itself: node/mpc/psi/), and `Normalization`, the parsed `normalize` parameter (pure, so the
contract checks it at request and the node applies exactly what was checked)."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Literal

from pydantic import ConfigDict, Field, field_serializer, field_validator

from alliance.protocols.spec import ANY_TYPE, DealerRule, InputRule, Params, ProtocolSpec

ENGINES = ("auto", "ecdh", "kkrt")
DEFAULT_NORMALIZATION = "trim,nfc"
FORMS = ("nfc", "nfkc")
CASES = ("lower", "upper", "casefold")
NORMALIZE_STEPS = (*FORMS, "trim", *CASES, "none")
OUT_INTERSECTION = "intersection"
OUT_CARDINALITY = "cardinality"


@dataclass(frozen=True)
class Normalization:
    """Parsed `normalize` parameter: an optional normal form, trim, an optional case mapping,
    applied in that fixed order whatever the order written."""

    form: str | None = "nfc"
    trim: bool = True
    case: str | None = None

    @classmethod
    def parse(cls, text: str | None) -> Normalization:
        """`trim,lower` etc.; ValueError naming the accepted steps otherwise."""
        if text is None:
            text = DEFAULT_NORMALIZATION
        steps = [s.strip().lower() for s in text.split(",") if s.strip()]
        unknown = [s for s in steps if s not in NORMALIZE_STEPS]
        if unknown:
            raise ValueError(
                f"unknown normalisation step(s) {', '.join(unknown)}; use a comma-separated list "
                f"of {', '.join(NORMALIZE_STEPS)} (for example 'trim,lower')"
            )
        forms = [s for s in steps if s in FORMS]
        cases = [s for s in steps if s in CASES]
        if len(forms) > 1 or len(cases) > 1:
            raise ValueError(
                f"normalisation {text!r} names more than one normal form or case step; pick one of "
                f"{'/'.join(FORMS)} and one of {'/'.join(CASES)}"
            )
        return cls(
            form=forms[0] if forms else None, trim="trim" in steps, case=cases[0] if cases else None
        )

    def __str__(self) -> str:
        steps = [s for s in (self.form, "trim" if self.trim else None, self.case) if s]
        return ",".join(steps) or "none"

    def apply_str(self, value: str) -> str:
        """The slow, obviously-right path for one id (the reference for the vectorised one)."""
        if self.form:
            value = unicodedata.normalize(self.form.upper(), value)
        if self.trim:
            value = value.strip()
        if self.case:
            value = getattr(value, self.case)()
            if self.form:
                value = unicodedata.normalize(self.form.upper(), value)
        return value


class PsiParams(Params):
    """Parameters of a psi job."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    engine: Literal["auto", "ecdh", "kkrt"] = Field(
        default="auto",
        description="auto (ecdh below 100 000 ids, else kkrt), ecdh (the reference) or kkrt "
        "(bulk OT extension)",
    )
    normalize: Normalization = Field(
        default=Normalization(),
        description="comma-separated id normalisation steps from "
        f"{', '.join(NORMALIZE_STEPS)}, applied as normal form, trim, case",
    )

    @field_validator("normalize", mode="before")
    @classmethod
    def _parse_normalize(cls, text: object) -> object:
        return Normalization.parse(text) if isinstance(text, str) else text

    @field_serializer("normalize")
    def _normalize_text(self, norm: Normalization) -> str:
        return str(norm)


PSI = ProtocolSpec(
    name="psi",
    summary="private set intersection of two members' id columns",
    params=PsiParams,
    outputs={
        OUT_INTERSECTION: "the ids both members hold (sorted, one per line)",
        OUT_CARDINALITY: "how many ids both members hold",
    },
    inputs=InputRule(
        min_inputs=2,
        max_inputs=2,
        distinct_owners=2,
        column_types=ANY_TYPE,
        summary="exactly two id columns held by two different members",
    ),
    dealer=DealerRule.NONE,
    recipients_own_inputs=True,
)
