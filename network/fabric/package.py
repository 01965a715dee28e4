"""The chaincode-as-a-service package an org installs on its peer.

A tar.gz of `metadata.json` ({"type": "ccaas", "label": ...}) and `code.tar.gz`, which holds
`connection.json` ({"address", "dial_timeout", "tls_required"}): no code at all, only where the
peer dials the chaincode server. Archives are written deterministically (no timestamps, fixed
owners), so the same address gives the same bytes and so the same package id, `label:sha256`.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

DIAL_TIMEOUT = "10s"


def _tar_gz(files: dict[str, bytes]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))
    # gzip's header carries a timestamp too: pin it
    data = bytearray(raw.getvalue())
    data[4:8] = b"\x00\x00\x00\x00"
    return bytes(data)


def connection_json(address: str, *, tls_required: bool = False) -> bytes:
    return json.dumps(
        {"address": address, "dial_timeout": DIAL_TIMEOUT, "tls_required": tls_required},
        sort_keys=True,
    ).encode()


def ccaas_package(label: str, address: str, *, tls_required: bool = False) -> bytes:
    """The package bytes for a chaincode server at `address`."""
    code = _tar_gz({"connection.json": connection_json(address, tls_required=tls_required)})
    metadata = json.dumps({"label": label, "type": "ccaas"}, sort_keys=True).encode()
    return _tar_gz({"code.tar.gz": code, "metadata.json": metadata})


def package_id(label: str, package: bytes) -> str:
    """What `peer lifecycle chaincode calculatepackageid` prints: label:sha256(package)."""
    return f"{label}:{hashlib.sha256(package).hexdigest()}"


def write_package(directory: Path, label: str, address: str) -> tuple[Path, str]:
    """Write `<label>.tar.gz` in `directory`; returns its path and package id."""
    package = ccaas_package(label, address)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{label}.tar.gz"
    path.write_bytes(package)
    return path, package_id(label, package)
