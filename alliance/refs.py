"""Input column references, `org/dataset:column`: the one pattern every layer checks them with
(a module of its own so that the protocol schemas can use it without importing the models)."""

from __future__ import annotations

import re

INPUT_REF = re.compile(
    r"^([a-z][a-z0-9-]{1,30})/([a-z][a-z0-9_-]{0,62}):([A-Za-z_][A-Za-z0-9_]{0,62})$"
)
