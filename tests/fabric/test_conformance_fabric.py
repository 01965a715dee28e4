"""The conformance cases against a real Fabric peer: records the oracle (CONFORMANCE_RECORD=1) or
checks that Fabric still answers as recorded (tests/conformance_cases.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from conformance_cases import CASES, RECORD_ENV, Answer, Harness, load_oracle, save_oracle

from network.fabric import gateway_endpoint
from network.fabric.binaries import check_version, resolve_bin_dir

RECORDED: dict[str, Answer] = {}


@pytest.fixture(scope="module")
def harness(fabric) -> Iterator[Harness]:
    host, port, root = gateway_endpoint(fabric.net_dir, "bank")
    yield Harness(fabric.net_dir, fabric.passphrase, f"{host}:{port}", root)
    if os.environ.get(RECORD_ENV) and len(RECORDED) == len(CASES):
        save_oracle(RECORDED, check_version(resolve_bin_dir()))


@pytest.mark.parametrize("name", list(CASES))
def test_fabric_answers_as_recorded(harness: Harness, name: str) -> None:
    answer = CASES[name](harness)
    if os.environ.get(RECORD_ENV):
        RECORDED[name] = answer
        return
    expected = load_oracle().get(name)
    assert expected is not None, f"{name} has no recorded answer: re-record with {RECORD_ENV}=1"
    assert answer.key() == expected.key(), f"{name}: Fabric now answers {answer}"
