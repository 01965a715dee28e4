"""The Fabric binaries the user supplies (FABRIC_BIN_DIR), found and checked, and run.

Alliance never builds or ships Fabric: the user downloads a release (peer, orderer, osnadmin,
configtxgen, configtxlator: every release's bin/ holds them) from
https://github.com/hyperledger/fabric/releases and points FABRIC_BIN_DIR at its `bin/` directory.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from network.fabric.errors import FabricBinariesError, FabricCommandError

BIN_ENV = "FABRIC_BIN_DIR"
REQUIRED = ("peer", "orderer", "osnadmin", "configtxgen", "configtxlator")
MIN_MAJOR = 3
RELEASES = "https://github.com/hyperledger/fabric/releases (Fabric 3.x, the bin/ directory)"


def resolve_bin_dir(bin_dir: Path | None = None) -> Path:
    """`bin_dir`, else $FABRIC_BIN_DIR; checked to hold every binary Alliance runs (configtxlator
    only for channel updates, but checked at start so a missing one is named before the network
    is up, not in the middle of a CA renewal)."""
    if bin_dir is None:
        value = os.environ.get(BIN_ENV, "")
        if not value:
            raise FabricBinariesError(
                f"{BIN_ENV} is not set: set it to the directory holding Fabric's "
                f"{', '.join(REQUIRED)} binaries; get them from {RELEASES}"
            )
        bin_dir = Path(value)
    bin_dir = Path(bin_dir).expanduser().resolve()
    if not bin_dir.is_dir():
        raise FabricBinariesError(
            f"{BIN_ENV}={bin_dir} is not a directory; point it at the bin/ directory of a Fabric "
            f"release, from {RELEASES}"
        )
    for name in REQUIRED:
        path = bin_dir / name
        if not path.is_file():
            raise FabricBinariesError(
                f"{path} is missing: {bin_dir} must hold Fabric's {', '.join(REQUIRED)}; "
                f"get them from {RELEASES}"
            )
        if not os.access(path, os.X_OK):
            raise FabricBinariesError(f"{path} is not executable: run `chmod +x {path}`")
    check_version(bin_dir)
    return bin_dir


def check_version(bin_dir: Path) -> str:
    """The peer's version; Fabric 3.x is required (V3_0 channel capabilities, no solo)."""
    peer = bin_dir / "peer"
    try:
        result = subprocess.run(
            [str(peer), "version"], capture_output=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise FabricBinariesError(
            f"{peer} does not run on this machine ({exc}); get the release for this platform "
            f"from {RELEASES}"
        ) from exc
    output = result.stdout.decode(errors="replace")
    version = next(
        (line.split(":", 1)[1].strip() for line in output.splitlines() if "Version:" in line), ""
    )
    if result.returncode != 0 or not version:
        raise FabricBinariesError(f"`{peer} version` failed; is it a Fabric peer binary?")
    if int(version.split(".")[0] or 0) < MIN_MAJOR:
        raise FabricBinariesError(
            f"{bin_dir} holds Fabric {version}; Fabric {MIN_MAJOR}.x is needed, from {RELEASES}"
        )
    return version


def run(
    command: list[str],
    *,
    env: dict[str, str],
    what: str,
    timeout: float = 120.0,
    ok_if: tuple[str, ...] = (),
) -> str:
    """Run a Fabric CLI command; its combined output, or FabricCommandError.

    `ok_if`: texts in the output of a failure that means "already done" (joined, installed)."""
    try:
        result = subprocess.run(
            command,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise FabricCommandError(f"{what} (timed out after {timeout:.0f} s)", command, "") from exc
    except OSError as exc:
        raise FabricBinariesError(f"cannot run {command[0]}: {exc}") from exc
    output = result.stdout.decode(errors="replace")
    if result.returncode != 0 and not any(text in output for text in ok_if):
        raise FabricCommandError(what, command, output)
    return output
