"""Unique id prefixes: a user may type `job-14f1` (or `14f1`) for the job whose id starts so."""

from __future__ import annotations

import re
from collections.abc import Iterable

from alliance.app.errors import BadInput

FULL_JOB_ID = re.compile(r"^job-[0-9a-f]{16}$")
FULL_PROPOSAL_ID = re.compile(r"^prop-[0-9a-f]{16}$")


def unique_prefix(text: str, known: Iterable[str], what: str, list_command: str) -> str:
    """The one id of `known` that starts with `text` (with or without its `job-` style prefix).
    Pure."""
    text = text.strip()
    ids = sorted(set(known))
    if text in ids:
        return text
    found = [i for i in ids if i.startswith(text) or i.split("-", 1)[-1].startswith(text)]
    if len(found) == 1:
        return found[0]
    if not found:
        raise BadInput(f"no {what} id starts with {text!r}; list them with `{list_command}`")
    shown = ", ".join(found[:5]) + (", ..." if len(found) > 5 else "")
    raise BadInput(
        f"{text!r} is the start of {len(found)} {what} ids ({shown}); type more of the id"
    )
