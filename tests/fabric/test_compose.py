"""The compose file for the official Fabric images is valid (where a docker client can say)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

COMPOSE = Path(__file__).resolve().parents[2] / "network" / "fabric" / "compose.yaml"


def _compose_available() -> bool:
    if shutil.which("docker") is None:
        return False
    probe = subprocess.run(
        ["docker", "compose", "version"], capture_output=True, check=False, timeout=30
    )
    return probe.returncode == 0


@pytest.mark.skipif(not _compose_available(), reason="no `docker compose` client here")
def test_compose_file_is_valid(tmp_path: Path) -> None:
    for profiles in ([], ["--profile", "orderer"]):
        result = subprocess.run(
            ["docker", "compose", "-f", str(COMPOSE), *profiles, "config", "--quiet"],
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
