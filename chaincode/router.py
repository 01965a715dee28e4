"""The router: the one place a transaction becomes a function call and an outcome a response.

`Router.invoke(stub)` reads the function name and string arguments from the stub, calls the
registered transaction function `fn(ctx, *args)`, and answers with a `Response`:

- success: status 200, empty message, the canonical JSON of what the function returned, and the
  function's chaincode event (if any) set on the stub;
- a `ContractError`: its status (400..410) and "<ErrorClassName>: <message>"; no event;
- anything else: 500 and "InternalError: ...".
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from alliance.canonical import canonical_json, loads
from alliance.errors import AllianceError
from chaincode.context import Context
from chaincode.errors import ContractError, InternalError, InvalidArgument, UnknownFunction
from chaincode.stub import Stub

TransactionFunction = Callable[..., Any]


@dataclass(frozen=True)
class Response:
    """A transaction's outcome, shaped like Fabric's chaincode Response."""

    status: int
    message: str
    payload: bytes = b""

    @property
    def ok(self) -> bool:
        return self.status == 200

    def json(self) -> Any:
        """The payload decoded (success responses carry canonical JSON)."""
        return loads(self.payload) if self.payload else None

    @property
    def error_type(self) -> str | None:
        """The error class name of a refusal ("NotAuthorized", ...), None on success."""
        if self.ok:
            return None
        return self.message.split(":", 1)[0]


def to_plain(value: Any) -> Any:
    """Records and lists of records as plain JSON-able data (aliases such as `schema` applied)."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True)
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: to_plain(v) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class _Entry:
    function: TransactionFunction
    query: bool
    arity: tuple[int, int]


def _arity(function: TransactionFunction) -> tuple[int, int]:
    params = list(inspect.signature(function).parameters.values())[1:]  # drop ctx
    required = sum(1 for p in params if p.default is inspect.Parameter.empty)
    return required, len(params)


class Router:
    """Dispatches transactions by name to registered transaction functions."""

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}

    def register(self, name: str, function: TransactionFunction, *, query: bool = False) -> None:
        if name in self._entries:
            raise ValueError(f"transaction function {name!r} registered twice")
        self._entries[name] = _Entry(function, query, _arity(function))

    def functions(self) -> list[str]:
        return sorted(self._entries)

    def is_query(self, name: str) -> bool:
        """True for read-only functions (Get*, List*, *History): evaluate, never submit."""
        entry = self._entries.get(name)
        return entry is not None and entry.query

    def invoke(self, stub: Stub) -> Response:
        name, args = stub.get_function_and_parameters()
        try:
            entry = self._lookup(name, args)
            ctx = Context(stub)
            result = entry.function(ctx, *args)
            payload = canonical_json(to_plain(result))
        except ContractError as exc:
            return Response(exc.status, exc.response_message())
        except AllianceError as exc:  # domain validation surfacing from a model or the charter
            error = InvalidArgument(str(exc))
            return Response(error.status, error.response_message())
        except Exception as exc:
            error = InternalError(f"{name} failed unexpectedly: {type(exc).__name__}: {exc}")
            return Response(error.status, error.response_message())
        if ctx.event is not None:
            stub.set_event(*ctx.event)
        return Response(200, "", payload)

    def _lookup(self, name: str, args: list[str]) -> _Entry:
        entry = self._entries.get(name)
        if entry is None:
            raise UnknownFunction(
                f"this contract has no transaction function {name!r}; check the spelling "
                "(names are PascalCase, e.g. GetJob)"
            )
        low, high = entry.arity
        if not low <= len(args) <= high:
            expected = str(low) if low == high else f"{low} to {high}"
            raise InvalidArgument(f"{name} takes {expected} argument(s), got {len(args)}")
        for index, arg in enumerate(args):
            if not isinstance(arg, str):
                raise InvalidArgument(f"{name} argument {index + 1} is not a string")
        return entry
