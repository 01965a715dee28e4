"""Parameter models of the modelling protocols (pydantic; job parameters arrive as strings).

One model per protocol, so the same schema can serve the contract at request time, the node's
gate and help texts once the shared protocol-spec registry exists. `parse(Model, job)` turns a
validation failure into a ProtocolError that names the parameter and what it accepts.
"""

from __future__ import annotations

from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from node.errors import ProtocolError

M = TypeVar("M", bound=BaseModel)


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    label: str = Field(description="the label column, ORG/DATASET:COLUMN (values 0/1)")
    ids: str = Field(
        default="",
        description="comma-separated id columns, one per data party, when the rows are aligned "
        "by a PSI intersection passed as local input 'alignment:intersection'",
    )
    normalize: str = Field(default="trim,nfc", description="the PSI job's id normalisation")
    recipe: str = Field(default="", description="local preprocessing recipe (JSON, see Recipe)")


class BinningParams(_Params):
    method: Literal["quantile", "width", "chimerge"] = "quantile"
    bins: int = Field(default=10, ge=2, le=64)
    init_bins: int = Field(default=32, ge=2, le=256, description="chimerge's fine bins")


class LrTrainParams(_Params):
    epochs: int = Field(default=10, ge=1, le=1000)
    batch_size: int = Field(default=1024, ge=16, le=1 << 20)
    learning_rate: float = Field(default=0.5, gt=0, le=100)
    schedule: Literal["constant", "invscaling", "step"] = "constant"
    decay: float = Field(default=0.5, ge=0, description="invscaling: lr/(1+decay·epoch); "
                         "step: lr·decay^epoch")
    l2: float = Field(default=0.0, ge=0)
    validation_fraction: float = Field(default=0.2, ge=0, lt=0.9)
    patience: int = Field(default=2, ge=1)
    tol: float = Field(default=1e-6, ge=0)
    seed: int = Field(default=0, ge=0, description="public shuffling seed")
    scale_bits: int = Field(default=16, ge=8, le=20)
    sigmoid: Literal["t1"] = "t1"
    class_weight: str = Field(
        default="", pattern=r"^$|^\s*[0-9.]+\s*,\s*[0-9.]+\s*$",
        description="W0,W1: weights of the residuals of label 0 and label 1 rows (each in "
        "(0, 16]); empty for unweighted",
    )

    def weights(self) -> tuple[float, float] | None:
        if not self.class_weight:
            return None
        w0, w1 = (float(part) for part in self.class_weight.split(","))
        if not (0 < w0 <= 16 and 0 < w1 <= 16):
            raise ProtocolError(f"class_weight {self.class_weight!r}: each weight is in (0, 16]")
        return w0, w1


class LrPredictParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    holder: str = Field(description="the org holding the model's intercept (training's label "
                        "holder)")
    label: str = Field(default="", description="label column for the evaluation output")
    ids: str = ""
    normalize: str = "trim,nfc"
    recipe: str = ""
    threshold: float = Field(default=0.5, ge=0, le=1)


class ScorecardParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    pdo: float = Field(default=50.0, gt=0, description="points to double the odds")
    base_score: float = Field(default=600.0, description="points at the base odds")
    base_odds: float = Field(default=1 / 19, gt=0, description="event (bad) odds at base_score")


def parse(model: type[M], protocol: str, parameters: dict[str, str]) -> M:
    try:
        return model.model_validate(parameters)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'parameters'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ProtocolError(f"{protocol} parameters are invalid ({problems})") from None
