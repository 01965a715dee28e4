"""node/ and chaincode/ import no front end: starting a node or serving the contract never loads
the command line (alliance.cli) or the TUI."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    "modules",
    [
        ("node.__main__", "node.daemon", "node.runner"),
        ("chaincode", "chaincode.__main__", "chaincode.shim.server"),
    ],
)
def test_back_ends_do_not_import_a_front_end(modules: tuple[str, ...]) -> None:
    code = (
        "import importlib, sys\n"
        f"for name in {list(modules)!r}:\n"
        "    importlib.import_module(name)\n"
        f"loaded = sorted(m for m in sys.modules if m.split('.')[0] == 'tui' "
        f"or m == 'alliance.cli' or m.startswith('alliance.cli.'))\n"
        "print(','.join(loaded))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120)
    assert out.stdout.strip() == "", f"{modules} loaded front-end modules: {out.stdout}"
