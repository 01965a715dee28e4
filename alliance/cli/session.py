"""What every ledger command needs: the network dir, the acting org, and a contract to call."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alliance.canonical import loads
from alliance.cli.parsing import UsageError


def net_dir(args: argparse.Namespace) -> Path:
    """`--dir` given before or after the subcommand."""
    value = getattr(args, "sub_dir", None) or args.dir
    if value is None:
        raise UsageError("no network directory: pass --dir NET")
    return Path(value)


def acting_org(args: argparse.Namespace) -> str:
    if not args.org:
        raise UsageError("no acting org: pass --as ORG before the subcommand")
    return str(args.org)


@contextmanager
def contract(args: argparse.Namespace) -> Iterator[Any]:
    from network.connection import connect_member

    with connect_member(net_dir(args), acting_org(args), args.user) as conn:
        yield conn.contract


def submit(args: argparse.Namespace, function: str, *arguments: str) -> Any:
    """Submit a transaction as the acting org; the decoded JSON result."""
    with contract(args) as c:
        return loads(c.submit_transaction(function, *arguments) or b"null")


def evaluate(args: argparse.Namespace, function: str, *arguments: str) -> Any:
    """Evaluate a query as the acting org; the decoded JSON result."""
    with contract(args) as c:
        return loads(c.evaluate_transaction(function, *arguments) or b"null")


def add_dir_option(parser: argparse.ArgumentParser) -> None:
    """Let `--dir` also follow the subcommand (`alliance network up --dir NET`)."""
    parser.add_argument(
        "--dir", dest="sub_dir", type=Path, default=None, help="the network directory"
    )
