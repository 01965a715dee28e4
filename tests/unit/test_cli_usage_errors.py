"""A mistake on the command line names the subcommand it was made in and that subcommand's
help, once ("alliance: query audit: ...", not "alliance: alliance: ..."), exit code 2."""

from __future__ import annotations

import pytest

from alliance.cli import main


def test_an_unknown_option_names_its_subcommand_and_help(
        capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["query", "audit", "lk-1", "--consent", "c.txt", "--record", "lk-1"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("alliance: query audit: unrecognized arguments: --record lk-1 ")
    assert "(see `alliance query audit --help`)" in err


def test_a_missing_argument_names_the_program_once(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["query", "lender", "--id", "C1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("alliance: query lender: the following arguments are required")
    assert "alliance: alliance" not in err


def test_an_unknown_command_points_to_the_top_level_help(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bogus"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("alliance: argument COMMAND: invalid choice: 'bogus'")
    assert err.rstrip().endswith("(see `alliance --help`)")
