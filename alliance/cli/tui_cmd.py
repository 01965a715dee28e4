"""`alliance tui`: the governance terminal UI (see `tui/`)."""

from __future__ import annotations

import argparse
from typing import Any

from alliance.cli.output import emit_error
from alliance.cli.session import acting_org, add_dir_option, net_dir


def register(groups: Any) -> None:
    p = groups.add_parser(
        "tui", help="the terminal UI: decisions, jobs, datasets, members, audit"
    )
    add_dir_option(p)
    p.set_defaults(handler=open_tui)


def open_tui(args: argparse.Namespace) -> int:
    import tui
    from tui.backend import BackendError

    try:
        return tui.run(net_dir(args), acting_org(args), args.user)
    except BackendError as exc:
        emit_error(str(exc))
        return 4
