"""What every ledger command needs: a session of the acting org on NET (`--dir`, `--as`,
`--user`), opened through the application layer."""

from __future__ import annotations

import argparse
from pathlib import Path

from alliance.app import Session, open_session
from alliance.cli.parsing import UsageError


def net_dir(args: argparse.Namespace) -> Path:
    if args.dir is None:
        raise UsageError("no network directory: pass --dir NET")
    return Path(args.dir)


def acting_org(args: argparse.Namespace) -> str:
    if not args.org:
        raise UsageError("no acting org: pass --as ORG")
    return str(args.org)


def session(args: argparse.Namespace) -> Session:
    return open_session(net_dir(args), acting_org(args), args.user)


def add_dir_option(parser: argparse.ArgumentParser) -> None:
    """Nothing to add: `--dir` (like every global option) is accepted after the subcommand too,
    where `alliance.cli.main.hoist_globals` moves it to the front."""
