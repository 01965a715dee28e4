"""The modelling protocols' parameters: the models of their specs (alliance/protocols/
modelling.py), parsed the way the contract and the gate parse them; a problem is a ProtocolError
here (the contract refused the job already if it was requested through the ledger)."""

from __future__ import annotations

from typing import TypeVar

from alliance.errors import ProtocolSpecError
from alliance.protocols import get_protocol_spec
from alliance.protocols.modelling import (
    BinningParams,
    LrPredictParams,
    LrTrainParams,
    ScorecardParams,
)
from alliance.protocols.spec import Params
from node.errors import ProtocolError

__all__ = ["BinningParams", "LrPredictParams", "LrTrainParams", "ScorecardParams", "parse"]

M = TypeVar("M", bound=Params)


def parse(model: type[M], protocol: str, parameters: dict[str, str]) -> M:
    """The job's parameters as `model` (the spec of `protocol`)."""
    try:
        parsed = get_protocol_spec(protocol).parse_params(parameters)
    except ProtocolSpecError as exc:
        raise ProtocolError(str(exc)) from None
    assert isinstance(parsed, model)
    return parsed
