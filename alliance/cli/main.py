"""`alliance`: argument parsing and dispatch. Global options come before the subcommand."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from alliance.cli import dataset_cmds, job_cmds, member_cmds, network_cmds
from alliance.cli.errors import exit_code_for, message_for
from alliance.cli.output import emit_error

Handler = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="alliance",
        description="Consortium data sharing governed by a ledger: govern, compute, audit.",
    )
    parser.add_argument("--dir", type=Path, default=None, help="the network directory (NET)")
    parser.add_argument("--as", dest="org", default=None, help="act as this member org")
    parser.add_argument(
        "--user",
        default="admin",
        choices=("admin", "client", "node"),
        help="which identity of the org signs",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    groups = parser.add_subparsers(dest="group", metavar="COMMAND", required=True)
    network_cmds.register(groups)
    member_cmds.register(groups)
    dataset_cmds.register(groups)
    job_cmds.register(groups)
    for extra in _optional_groups():
        extra.register(groups)
    return parser


def _optional_groups() -> list:  # type: ignore[type-arg]
    """Command groups that arrive with later parts (nodes, audit, demo, TUI)."""
    import importlib

    found = []
    for name in ("node_cmds", "audit_cmds", "demo_cmd", "tui_cmd"):
        try:
            found.append(importlib.import_module(f"alliance.cli.{name}"))
        except ModuleNotFoundError as exc:
            if exc.name != f"alliance.cli.{name}":
                raise
    return found


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except KeyboardInterrupt:
        emit_error("interrupted")
        return 130
    except Exception as exc:  # one place maps every error to a message and an exit code
        code = exit_code_for(exc)
        if code is None:
            raise
        emit_error(message_for(exc))
        return code


if __name__ == "__main__":
    sys.exit(main())
