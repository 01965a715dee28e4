"""The registry of job protocols: name -> `ProtocolSpec`. A plain dict, so that a new protocol
registers with one line in `alliance/protocols/__init__.py`: `register(MY_SPEC)`."""

from __future__ import annotations

from alliance.errors import ProtocolSpecError
from alliance.protocols.spec import ProtocolSpec

PROTOCOLS: dict[str, ProtocolSpec] = {}


def register(spec: ProtocolSpec) -> ProtocolSpec:
    """Add `spec` to the registry (a second spec of the same name is a programming error)."""
    if spec.name in PROTOCOLS and PROTOCOLS[spec.name] is not spec:
        raise ValueError(f"protocol {spec.name!r} is registered twice")
    PROTOCOLS[spec.name] = spec
    return spec


def get_protocol_spec(name: str) -> ProtocolSpec:
    """The spec of protocol `name`; ProtocolSpecError listing the known protocols otherwise."""
    try:
        return PROTOCOLS[name]
    except KeyError:
        known = ", ".join(sorted(PROTOCOLS))
        raise ProtocolSpecError(f"unknown protocol {name!r}; known protocols: {known}") from None
