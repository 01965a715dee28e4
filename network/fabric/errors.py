"""Errors of the Fabric launcher, under the `network` package's tree.

NetworkError (network.errors)
└── FabricError             Fabric cannot be started, configured, reached or stopped
    ├── FabricBinariesError FABRIC_BIN_DIR missing, or a binary in it missing or broken
    └── FabricCommandError  a Fabric CLI command (peer, osnadmin, configtxgen, configtxlator)
                            failed: `command` and the tail of its output
"""

from __future__ import annotations

from network.errors import NetworkError


class FabricError(NetworkError):
    """The Fabric network cannot be started, configured, reached or stopped."""


class FabricBinariesError(FabricError):
    """FABRIC_BIN_DIR is missing, or lacks a binary, or a binary does not run."""


class FabricCommandError(FabricError):
    """A Fabric command-line tool failed; carries the command and the tail of its output."""

    def __init__(self, what: str, command: list[str], output: str) -> None:
        tail = "\n".join(output.strip().splitlines()[-15:])
        super().__init__(f"{what} failed: {' '.join(command)}\n{tail}")
        self.command = command
        self.output = output
