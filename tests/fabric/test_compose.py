"""The compose file for the official Fabric images is valid (where a docker client can say)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

COMPOSE = Path(__file__).resolve().parents[2] / "network" / "fabric" / "compose.yaml"


def _compose_command() -> list[str] | None:
    """`docker compose` (v2), else the standalone `docker-compose`; None when neither runs."""
    if shutil.which("docker") is not None:
        probe = subprocess.run(
            ["docker", "compose", "version"], capture_output=True, check=False, timeout=30
        )
        if probe.returncode == 0:
            return ["docker", "compose"]
    return ["docker-compose"] if shutil.which("docker-compose") else None


COMPOSE_COMMAND = _compose_command()


@pytest.mark.skipif(COMPOSE_COMMAND is None, reason="no `docker compose` client here")
def test_compose_file_is_valid(tmp_path: Path) -> None:
    assert COMPOSE_COMMAND is not None
    for profiles in ([], ["--profile", "orderer"]):
        result = subprocess.run(
            [*COMPOSE_COMMAND, "-f", str(COMPOSE), *profiles, "config", "--quiet"],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
            env={"NET": str(tmp_path), "PATH": "/usr/local/bin:/usr/bin:/bin"},
        )
        assert result.returncode == 0, result.stderr


def test_compose_file_names_the_official_images() -> None:
    text = COMPOSE.read_text()
    assert "hyperledger/fabric-peer:" in text and "hyperledger/fabric-orderer:" in text
    assert 'python", "-m", "chaincode", "serve"' in text
