"""Job protocols' schemas: one `ProtocolSpec` per protocol (parameters as a pydantic model,
outputs, input and dealer rules, shape problems), the registry, and help rendering.

Public API:
    PROTOCOLS: dict[str, ProtocolSpec]
    register(spec) -> spec                     one line per protocol, below
    get_protocol_spec(name) -> ProtocolSpec    ProtocolSpecError listing the known names
    spec.parse_params(raw: Mapping[str, str]) -> Params       (ProtocolSpecError)
    spec.shape_problems(JobShape) -> list[str]; spec.problems(shape, raw) -> list[str]
    spec.joint_problems(shape, raw) -> list[str]   parameters and shape together
    spec.check(shape, raw) -> Params           (ProtocolSpecError with every problem)
    render_protocols() / render_spec(spec) -> str               help text
"""

from alliance.protocols.gbdt import GBDT_PREDICT, GBDT_TRAIN
from alliance.protocols.help import describe_param, render_protocols, render_spec
from alliance.protocols.modelling import BINNING, LR_PREDICT, LR_TRAIN, SCORECARD
from alliance.protocols.psi import PSI, Normalization, PsiParams
from alliance.protocols.registry import PROTOCOLS, get_protocol_spec, register
from alliance.protocols.spec import (
    ANY_TYPE,
    NUMERIC_TYPES,
    DealerRule,
    InputRule,
    JobShape,
    Params,
    ProtocolSpec,
    ShapeInput,
)
from alliance.protocols.stats import STATS, StatsParams

register(STATS)
register(PSI)
register(BINNING)
register(LR_TRAIN)
register(LR_PREDICT)
register(SCORECARD)
register(GBDT_TRAIN)
register(GBDT_PREDICT)

__all__ = [
    "ANY_TYPE",
    "BINNING",
    "GBDT_PREDICT",
    "GBDT_TRAIN",
    "LR_PREDICT",
    "LR_TRAIN",
    "NUMERIC_TYPES",
    "PROTOCOLS",
    "PSI",
    "SCORECARD",
    "STATS",
    "DealerRule",
    "InputRule",
    "JobShape",
    "Normalization",
    "Params",
    "ProtocolSpec",
    "PsiParams",
    "ShapeInput",
    "StatsParams",
    "describe_param",
    "get_protocol_spec",
    "register",
    "render_protocols",
    "render_spec",
]
