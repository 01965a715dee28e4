"""The CCaaS package and the external builder the peer runs (detect, build, release)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from network.fabric.package import ccaas_package, package_id, write_package

BUILDER = Path(__file__).resolve().parents[2] / "network" / "fabric" / "builder" / "bin"


def _run(script: str, *args: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(BUILDER / script), *map(str, args)],
        capture_output=True,
        text=True,
        check=False,
    )


def _unpack(package: bytes, into: Path) -> tuple[Path, Path]:
    """What the peer does before calling the builder: metadata dir and source dir."""
    metadata, source = into / "metadata", into / "source"
    metadata.mkdir(parents=True)
    source.mkdir()
    with tarfile.open(fileobj=io.BytesIO(package)) as outer:
        outer.extract("metadata.json", metadata, filter="data")
        code = outer.extractfile("code.tar.gz")
        assert code is not None
        with tarfile.open(fileobj=io.BytesIO(code.read())) as inner:
            inner.extractall(source, filter="data")
    return source, metadata


def test_package_holds_metadata_and_connection() -> None:
    package = ccaas_package("alliance_1", "127.0.0.1:9999")
    with tarfile.open(fileobj=io.BytesIO(package)) as outer:
        assert sorted(outer.getnames()) == ["code.tar.gz", "metadata.json"]
        metadata = json.load(outer.extractfile("metadata.json"))  # type: ignore[arg-type]
        with tarfile.open(fileobj=outer.extractfile("code.tar.gz")) as inner:  # type: ignore[arg-type]
            connection = json.load(inner.extractfile("connection.json"))  # type: ignore[arg-type]
    assert metadata == {"label": "alliance_1", "type": "ccaas"}
    assert connection["address"] == "127.0.0.1:9999"
    assert connection["tls_required"] is False and connection["dial_timeout"]


def test_same_address_gives_the_same_package_id() -> None:
    first = package_id("l", ccaas_package("l", "127.0.0.1:1"))
    assert first == package_id("l", ccaas_package("l", "127.0.0.1:1"))
    assert first != package_id("l", ccaas_package("l", "127.0.0.1:2"))
    assert first.startswith("l:") and len(first) == 2 + 64


def test_write_package_returns_the_id_of_the_file(tmp_path: Path) -> None:
    path, pid = write_package(tmp_path, "alliance_1", "127.0.0.1:5")
    assert pid == package_id("alliance_1", path.read_bytes())


def test_detect_claims_ccaas_packages(tmp_path: Path) -> None:
    source, metadata = _unpack(ccaas_package("x", "127.0.0.1:1"), tmp_path)
    assert _run("detect", source, metadata).returncode == 0


@pytest.mark.parametrize("kind", ["golang", "node", ""])
def test_detect_leaves_other_packages_alone(tmp_path: Path, kind: str) -> None:
    (tmp_path / "metadata.json").write_text(json.dumps({"type": kind, "label": "x"}))
    assert _run("detect", tmp_path, tmp_path).returncode == 1


def test_build_then_release_publish_the_connection(tmp_path: Path) -> None:
    source, metadata = _unpack(ccaas_package("x", "127.0.0.1:4242"), tmp_path)
    build, release = tmp_path / "build", tmp_path / "release"
    assert _run("build", source, metadata, build).returncode == 0
    assert _run("release", build, release).returncode == 0
    published = json.loads((release / "chaincode" / "server" / "connection.json").read_text())
    assert published["address"] == "127.0.0.1:4242"


def test_build_refuses_a_package_without_an_address(tmp_path: Path) -> None:
    (tmp_path / "connection.json").write_text(json.dumps({"dial_timeout": "1s"}))
    result = _run("build", tmp_path, tmp_path, tmp_path / "out")
    assert result.returncode == 1 and "address" in result.stderr


def test_builder_scripts_are_executable() -> None:
    for name in ("detect", "build", "release"):
        path = BUILDER / name
        assert path.stat().st_mode & 0o111, f"{path} must be executable"
        assert path.read_text().startswith("#!")
