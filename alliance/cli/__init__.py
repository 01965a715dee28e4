"""The `alliance` command line: the composition root that wires ledger, nodes and TUI together."""

from alliance.cli.main import main

__all__ = ["main"]
