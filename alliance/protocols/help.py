"""Help text for the job protocols, rendered from their specs, so the CLI's `--help` and the TUI's
job wizard show the same thing."""

from __future__ import annotations

from collections.abc import Iterable

from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from alliance.protocols.spec import DealerRule, ProtocolSpec, choices_of


def param_default(info: FieldInfo) -> str | None:
    """A parameter's default as the user would write it; None when the parameter is required."""
    if info.is_required():
        return None
    default = info.default if info.default is not PydanticUndefined else None
    return None if default is None else str(default)


def describe_param(name: str, info: FieldInfo) -> str:
    """`op (required): one of sum, mean, ... — what to compute`."""
    default = param_default(info)
    if info.is_required():
        head = f"{name} (required)"
    elif default is None:
        head = f"{name} (optional)"
    else:
        head = f"{name} (default {default})"
    choices = choices_of(info.annotation)
    text = info.description or ""
    if choices:
        text = f"one of {', '.join(choices)}" + (f" — {text}" if text else "")
    return f"{head}: {text}" if text else head


def render_spec(spec: ProtocolSpec, indent: str = "  ") -> str:
    lines = [f"{spec.name}: {spec.summary}"]
    lines.append(f"{indent}inputs: {spec.inputs.summary or ', '.join(spec.inputs.column_types)}")
    lines.append(f"{indent}outputs:")
    lines += [f"{indent * 2}{name}: {text}" for name, text in spec.outputs.items()]
    fields = spec.params.model_fields
    if fields:
        lines.append(f"{indent}parameters (--param KEY=VALUE):")
        lines += [f"{indent * 2}{describe_param(name, info)}" for name, info in fields.items()]
    else:
        lines.append(f"{indent}parameters: none")
    if spec.recipients_own_inputs:
        lines.append(f"{indent}outputs go only to the input owners")
    lines.append(
        {
            DealerRule.NONE: f"{indent}no dealer",
            DealerRule.OPTIONAL: f"{indent}dealer: optional",
            DealerRule.REQUIRED: f"{indent}dealer: required",
        }[spec.dealer]
    )
    return "\n".join(lines)


def render_protocols(specs: Iterable[ProtocolSpec] | None = None) -> str:
    """Every registered protocol (or `specs`), one block each."""
    if specs is None:
        from alliance.protocols.registry import PROTOCOLS

        specs = [PROTOCOLS[name] for name in sorted(PROTOCOLS)]
    return "\n\n".join(render_spec(spec) for spec in specs)
