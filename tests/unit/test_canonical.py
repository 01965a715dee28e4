"""Canonical JSON: one byte encoding per object, and no floats on the ledger."""

from __future__ import annotations

import pytest

from alliance.canonical import canonical_json, is_digest, object_digest
from alliance.errors import EncodingError


def test_keys_are_sorted_and_compact() -> None:
    assert canonical_json({"b": 1, "a": [True, None, "x"]}) == b'{"a":[true,null,"x"],"b":1}'


def test_unicode_is_written_as_utf8() -> None:
    assert canonical_json(["é"]) == '["é"]'.encode()


def test_floats_are_rejected() -> None:
    with pytest.raises(EncodingError, match="float"):
        canonical_json({"amount": 0.25})


def test_nested_floats_are_rejected_with_their_path() -> None:
    with pytest.raises(EncodingError, match=r"rows\[1\]"):
        canonical_json({"rows": [1, 2.0]})


def test_non_string_keys_are_rejected() -> None:
    with pytest.raises(EncodingError):
        canonical_json({1: "x"})


def test_digest_does_not_depend_on_key_order() -> None:
    assert object_digest({"a": 1, "b": 2}) == object_digest({"b": 2, "a": 1})
    assert is_digest(object_digest({"a": 1}))
