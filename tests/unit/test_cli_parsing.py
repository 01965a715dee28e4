"""Command-line values: durations, K=V pairs, outputs, positive seconds."""

from __future__ import annotations

import argparse

import pytest

from alliance.cli.parsing import (
    UsageError,
    parse_duration,
    parse_outputs,
    parse_pairs,
    positive_seconds,
)


@pytest.mark.parametrize(
    ("text", "seconds"), [("90", 90), ("15m", 900), ("24h", 86400), ("2w", 1209600)]
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["0", "-1h", "soon", "1y", ""])
def test_bad_durations_say_the_expected_form(text: str) -> None:
    with pytest.raises(UsageError, match="positive number with s, m, h, d or w"):
        parse_duration(text)


def test_repeated_key_is_refused() -> None:
    with pytest.raises(UsageError, match="given twice"):
        parse_pairs(["op=sum", "op=mean"], "--param")


def test_outputs_split_recipients() -> None:
    assert parse_outputs(["cardinality=bank,telecom", "intersection=bank"]) == {
        "cardinality": ["bank", "telecom"],
        "intersection": ["bank"],
    }


def test_output_without_recipient_is_refused() -> None:
    with pytest.raises(UsageError, match="names no recipient"):
        parse_outputs(["result="])


@pytest.mark.parametrize("text", ["0", "-5", "nan", "soon"])
def test_non_positive_seconds_are_refused(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        positive_seconds(text)
