"""Canonical JSON and digests: the one byte encoding of every ledger object.

Sorted keys, UTF-8, no insignificant whitespace, no floats (amounts are integers or decimal
strings), so that every party hashing the same object gets the same digest.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from alliance.errors import EncodingError

DIGEST_PREFIX = "sha256:"


def _check(value: Any, path: str) -> None:
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return
    if isinstance(value, float):
        raise EncodingError(
            f"{path or 'value'} is a float ({value!r}); ledger objects use integers or decimal "
            'strings — encode it as a string such as "0.25"'
        )
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise EncodingError(f"{path or 'object'} has a non-string key {key!r}")
            _check(item, f"{path}.{key}" if path else key)
        return
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _check(item, f"{path}[{index}]")
        return
    raise EncodingError(
        f"{path or 'value'} has type {type(value).__name__}, which has no canonical JSON"
    )


_SCALARS = (str, int, type(None))  # bool is an int


def _plain(value: Any) -> bool:
    """`_check` without building the path of every value (every message a query server
    answers is encoded): True when nothing in `value` needs naming."""
    if isinstance(value, _SCALARS):
        return True
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str) or not (isinstance(item, _SCALARS) or _plain(item)):
                return False
        return True
    if isinstance(value, (list, tuple)):
        return all(isinstance(item, _SCALARS) or _plain(item) for item in value)
    return False


def canonical_json(value: Any) -> bytes:
    """Encode `value` as canonical JSON bytes; raises EncodingError for floats and odd types."""
    if not _plain(value):
        _check(value, "")  # names the first value that has no canonical JSON
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def loads(data: bytes | str) -> Any:
    """Decode JSON produced by `canonical_json` (or any JSON without floats)."""
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise EncodingError(f"not valid JSON: {exc}") from exc


def sha256_digest(data: bytes) -> str:
    """`sha256:<hex>` of raw bytes."""
    return DIGEST_PREFIX + hashlib.sha256(data).hexdigest()


def object_digest(value: Any) -> str:
    """`sha256:<hex>` of the canonical JSON of `value`."""
    return sha256_digest(canonical_json(value))


def is_digest(text: object) -> bool:
    """True for a well-formed `sha256:<64 lowercase hex>` string."""
    if not isinstance(text, str) or not text.startswith(DIGEST_PREFIX):
        return False
    hexpart = text[len(DIGEST_PREFIX) :]
    return len(hexpart) == 64 and all(c in "0123456789abcdef" for c in hexpart)
