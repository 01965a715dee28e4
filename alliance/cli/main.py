"""`alliance`: argument parsing and dispatch.

Global options (`--dir --as --user --json`) may come before or after the subcommand: they are
moved to the front before argparse sees the words. Every error becomes one line on stderr (a
JSON object with `--json`) and the exit code of its class (`alliance.app.errors.EXIT_CODES`).
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path

from alliance.app.errors import EXIT_CODES, AppError, to_app_error
from alliance.cli import dataset_cmds, job_cmds, member_cmds, network_cmds, query_cmds
from alliance.cli.output import emit_error
from alliance.cli.parsing import UsageError

Handler = Callable[[argparse.Namespace], int]
GLOBAL_WITH_VALUE = ("--dir", "--as", "--user")
GLOBAL_FLAGS = ("--json",)


def exit_codes_help() -> str:
    return "exit codes:\n" + "\n".join(f"  {code:<4} {text}" for code, text in EXIT_CODES.items())


COMMON_EPILOG = (
    "global options (--dir NET, --as ORG, --user admin|client|node, --json) may come before or\n"
    "after the subcommand.\n\n"
    "environment:\n"
    "  ALLIANCE_PASSPHRASE  the passphrase that encrypts every admin, client and node key\n"
    "                       (asked for on a terminal when unset)\n\n"
)


class Parser(argparse.ArgumentParser):
    """argparse that raises a UsageError (exit 2, JSON with --json) instead of exiting."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise usage_error(self.prog.removeprefix("alliance").strip(), message)


def usage_error(command: str, message: str) -> UsageError:
    """A command line's mistake, naming the (sub)command it was made in and its help; the
    message is printed after "alliance: ", so the program's name is not repeated."""
    where = f"alliance {command}" if command else "alliance"
    return UsageError(f"{command + ': ' if command else ''}{message} (see `{where} --help`)")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="alliance",
        description="Consortium data sharing governed by a ledger: govern, compute, audit.",
        epilog=COMMON_EPILOG + exit_codes_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
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
    query_cmds.register(groups)
    for extra in _optional_groups():
        extra.register(groups)
    _add_footer(parser)
    return parser


SUBCOMMAND_FOOTER = (
    "Global options --dir NET --as ORG --user USER --json go before or after the subcommand; "
    "keys open with ALLIANCE_PASSPHRASE; exit codes: 0 done, 1 refused by the ledger, 2 bad "
    "command line, 3 unreachable, 4 local trouble (files, keys, data), 5/6 job wait ended "
    "otherwise/timed out (see `alliance --help`)."
)


def _add_footer(parser: argparse.ArgumentParser) -> None:
    """Every subcommand's --help ends with the global options, the passphrase and exit codes."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                sub.formatter_class = argparse.RawDescriptionHelpFormatter
                footer = "\n".join(textwrap.wrap(SUBCOMMAND_FOOTER, 78))
                sub.epilog = f"{sub.epilog}\n\n{footer}" if sub.epilog else footer
                _add_footer(sub)


def _optional_groups() -> list:  # type: ignore[type-arg]
    """Command groups that arrive with later parts (nodes, audit, demo, TUI)."""
    import importlib

    found = []
    for name in ("node_cmds", "audit_cmds", "keys_cmds", "demo_cmd", "tui_cmd"):
        try:
            found.append(importlib.import_module(f"alliance.cli.{name}"))
        except ModuleNotFoundError as exc:
            if exc.name != f"alliance.cli.{name}":
                raise
    return found


def hoist_globals(argv: Sequence[str]) -> list[str]:
    """The words with global options moved to the front, wherever they were given. Pure."""
    front: list[str] = []
    rest: list[str] = []
    words = list(argv)
    i = 0
    while i < len(words):
        word = words[i]
        if word == "--":
            rest += words[i:]
            break
        name = word.split("=", 1)[0]
        if name in GLOBAL_WITH_VALUE:
            if "=" in word:
                front.append(word)
            elif i + 1 < len(words):
                front += [word, words[i + 1]]
                i += 1
            else:
                rest.append(word)
        elif word in GLOBAL_FLAGS:
            front.append(word)
        else:
            rest.append(word)
        i += 1
    return front + rest


def main(argv: Sequence[str] | None = None) -> int:
    words = hoist_globals(sys.argv[1:] if argv is None else argv)
    as_json = "--json" in words
    try:
        args, extra = build_parser().parse_known_args(words)
        if extra:  # argparse would blame the top-level parser: name the subcommand instead
            command = " ".join(w for w in (args.group, getattr(args, "command", None)) if w)
            raise usage_error(command, f"unrecognized arguments: {' '.join(extra)}")
        handler: Handler = args.handler
        return handler(args)
    except KeyboardInterrupt:
        emit_error("interrupted", as_json=as_json, data={"error": "interrupted", "exit_code": 130})
        return 130
    except Exception as exc:  # one place maps every error to a message and an exit code
        error: AppError | None = to_app_error(exc)
        if error is None:
            raise
        emit_error(str(error), as_json=as_json, data=error.to_dict())
        return error.exit_code


if __name__ == "__main__":
    sys.exit(main())
