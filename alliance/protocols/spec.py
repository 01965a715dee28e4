"""`ProtocolSpec`: what a job of one protocol may ask for — its parameters (one pydantic model),
its outputs, the inputs it takes, whether it has a dealer — and the problems of a job's shape.

The same spec is read by the contract at RequestJob, by the node's gate before it runs a job, by
the protocol itself (it runs on the parsed parameters, never on the raw strings), and by the help
text of the CLI and the TUI. Pure: no I/O.
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from alliance.errors import ProtocolSpecError
from alliance.run_deadline import RUN_BASE_SECONDS, RUN_SECONDS_MAX, RUN_SECONDS_MIN

NUMERIC_TYPES = ("integer", "decimal")
ANY_TYPE = ("string", "integer", "decimal", "boolean", "date")


class DealerRule(StrEnum):
    """Whether a job of the protocol names a dealer (a member supplying correlated randomness)."""

    NONE = "none"
    OPTIONAL = "optional"
    REQUIRED = "required"


class Params(BaseModel):
    """Base of every protocol's parameter model: built from the job's `dict[str, str]`, no extra
    keys, values converted from their text (lax mode), immutable; no float parameter takes `inf`
    or `nan` (no bound or penalty means anything then). Every protocol takes `run_seconds` (the
    base of its runs' deadline, alliance/run_deadline.py)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    run_seconds: int | None = Field(
        default=None, ge=RUN_SECONDS_MIN, le=RUN_SECONDS_MAX,
        description=f"seconds a run may take before its per-row allowance (default "
                    f"{RUN_BASE_SECONDS}); after its deadline the run can be expired FAILED",
    )


@dataclass(frozen=True)
class ShapeInput:
    """One input of a job as the shape check sees it: its reference, owner and column type
    (None when the checker does not know it, e.g. an older job record)."""

    ref: str
    owner: str
    column_type: str | None = None


@dataclass(frozen=True)
class JobShape:
    """What a job asks for, apart from its parameters."""

    inputs: tuple[ShapeInput, ...]
    outputs: Mapping[str, Sequence[str]]
    dealer: str | None = None

    @property
    def owners(self) -> list[str]:
        return sorted({i.owner for i in self.inputs})

    @property
    def recipients(self) -> list[str]:
        return sorted({org for orgs in self.outputs.values() for org in orgs})


@dataclass(frozen=True)
class InputRule:
    """How many input columns, from how many distinct owners, of which column types."""

    min_inputs: int = 1
    max_inputs: int | None = None
    distinct_owners: int | None = None
    """Exactly this many different owners (None: any)."""
    column_types: tuple[str, ...] = ANY_TYPE
    summary: str = ""
    """One line for help texts, e.g. 'one or more numeric columns'."""


@dataclass(frozen=True)
class ProtocolSpec:
    """The schema of one job protocol; see the module docstring."""

    name: str
    summary: str
    params: type[Params]
    outputs: Mapping[str, str]
    """Output name -> one-line description."""
    inputs: InputRule = field(default_factory=InputRule)
    dealer: DealerRule = DealerRule.NONE
    recipients_own_inputs: bool = False
    """Outputs may go only to input owners."""
    extra_problems: Callable[[JobShape], list[str]] | None = None
    """Protocol-specific shape rules beyond the declarative ones."""
    job_problems: Callable[[Any, JobShape], list[str]] | None = None
    """Rules on the parsed parameters and the shape together (e.g. the label is an input), run
    only when both are fine on their own: (params, shape) -> problems."""

    # ---- parameters ---------------------------------------------------------------------------

    def parse_params(self, raw: Mapping[str, str]) -> Params:
        """The job's parameters as the typed model; ProtocolSpecError listing every problem
        (with the accepted values) otherwise."""
        try:
            return self.params.model_validate(dict(raw))
        except ValidationError as exc:
            raise ProtocolSpecError("; ".join(self._messages(exc, raw))) from None

    def param_problems(self, raw: Mapping[str, str]) -> list[str]:
        try:
            self.params.model_validate(dict(raw))
        except ValidationError as exc:
            return self._messages(exc, raw)
        return []

    def _messages(self, exc: ValidationError, raw: Mapping[str, str]) -> list[str]:
        own = [f for f in self.params.model_fields if f not in Params.model_fields]
        known = ", ".join([*own, *Params.model_fields])
        messages = []
        for error in exc.errors(include_url=False):
            loc = error["loc"]
            key = str(loc[0]) if loc else ""
            value = raw.get(key)
            kind = error["type"]
            if kind == "extra_forbidden":
                messages.append(
                    f"{self.name} has no parameter {key!r}; its parameters are: {known}"
                )
            elif kind == "missing":
                info = self.params.model_fields[key].description or ""
                messages.append(f"{self.name} needs parameter {key} ({info})")
            elif kind == "literal_error":
                choices = ", ".join(choices_of(self.params.model_fields[key].annotation))
                messages.append(
                    f"{self.name} parameter {key}={value!r} is not one of {choices}"
                )
            elif not key:
                messages.append(f"{self.name} parameters: {_clean(error['msg'])}")
            else:
                messages.append(f"{self.name} parameter {key}={value!r}: {_clean(error['msg'])}")
        return messages

    # ---- shape --------------------------------------------------------------------------------

    def shape_problems(self, shape: JobShape) -> list[str]:
        """What makes a job's inputs, outputs and dealer impossible for this protocol (the
        contract refuses such a request, and a node refuses to run one). Empty when it fits."""
        problems: list[str] = []
        unknown = sorted(set(shape.outputs) - set(self.outputs))
        if unknown:
            problems.append(
                f"protocol {self.name!r} has no output {', '.join(map(repr, unknown))}; "
                f"its outputs are: {', '.join(self.outputs)}"
            )
        rule = self.inputs
        count = len(shape.inputs)
        owners = shape.owners
        too_few = count < rule.min_inputs
        too_many = rule.max_inputs is not None and count > rule.max_inputs
        wrong_owners = rule.distinct_owners is not None and len(owners) != rule.distinct_owners
        if too_few or too_many or wrong_owners:
            problems.append(
                f"{self.name} takes {rule.summary or _count_text(rule)}; this job has {count} "
                f"input(s) owned by {', '.join(owners) or 'nobody'}"
            )
        for item in shape.inputs:
            if item.column_type is not None and item.column_type not in rule.column_types:
                problems.append(
                    f"{self.name} cannot use input {item.ref}: its column is of type "
                    f"{item.column_type}, and {self.name} takes {' or '.join(rule.column_types)} "
                    "columns"
                )
        if self.recipients_own_inputs:
            strangers = sorted(set(shape.recipients) - set(owners))
            if strangers:
                problems.append(
                    f"{self.name} outputs can go only to the input owners, not to "
                    f"{', '.join(strangers)}"
                )
        if self.dealer == DealerRule.NONE and shape.dealer is not None:
            problems.append(f"{self.name} needs no dealer; leave the dealer out")
        if self.dealer == DealerRule.REQUIRED and shape.dealer is None:
            problems.append(f"{self.name} needs a dealer; name a member with --dealer")
        if self.extra_problems is not None:
            problems += self.extra_problems(shape)
        return problems

    def joint_problems(self, shape: JobShape, raw_params: Mapping[str, str]) -> list[str]:
        """What makes the parameters and the shape impossible together (`job_problems`); empty
        when either is wrong on its own (those problems are reported by the other checks)."""
        if self.job_problems is None or self.shape_problems(shape):
            return []
        try:
            params = self.params.model_validate(dict(raw_params))
        except ValidationError:
            return []
        return self.job_problems(params, shape)

    def problems(self, shape: JobShape, raw_params: Mapping[str, str]) -> list[str]:
        """Every problem of a job of this protocol: its shape, its parameters, then the two
        together."""
        return (self.shape_problems(shape) + self.param_problems(raw_params)
                + self.joint_problems(shape, raw_params))

    def check(self, shape: JobShape, raw_params: Mapping[str, str]) -> Params:
        """The parsed parameters; ProtocolSpecError with every problem of the job otherwise."""
        problems = self.problems(shape, raw_params)
        if problems:
            raise ProtocolSpecError("; ".join(problems))
        return self.parse_params(raw_params)


def choices_of(annotation: Any) -> tuple[str, ...]:
    """The accepted values of a `Literal[...]` (or `Literal[...] | None`) annotation."""
    if typing.get_origin(annotation) is typing.Literal:
        return tuple(str(a) for a in typing.get_args(annotation))
    for arg in typing.get_args(annotation):
        if typing.get_origin(arg) is typing.Literal:
            return tuple(str(a) for a in typing.get_args(arg))
    return ()


def _clean(message: str) -> str:
    """pydantic prefixes custom messages with 'Value error, '."""
    return message.removeprefix("Value error, ").removeprefix("Assertion failed, ")


def _count_text(rule: InputRule) -> str:
    if rule.max_inputs == rule.min_inputs:
        text = f"exactly {rule.min_inputs} input(s)"
    elif rule.max_inputs is None:
        text = f"at least {rule.min_inputs} input(s)"
    else:
        text = f"{rule.min_inputs} to {rule.max_inputs} inputs"
    if rule.distinct_owners is not None:
        text += f" from {rule.distinct_owners} different owners"
    return text
