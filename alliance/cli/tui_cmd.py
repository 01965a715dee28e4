"""`alliance tui`: the governance terminal UI (see `tui/`); errors map like every command's."""

from __future__ import annotations

import argparse
from typing import Any

from alliance.cli.session import acting_org, add_dir_option, net_dir


def register(groups: Any) -> None:
    p = groups.add_parser(
        "tui", help="the terminal UI: decisions, jobs, datasets, members, audit"
    )
    add_dir_option(p)
    p.set_defaults(handler=open_tui)


def open_tui(args: argparse.Namespace) -> int:
    import tui

    return tui.run(net_dir(args), acting_org(args), args.user)
