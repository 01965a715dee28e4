"""Delivered outputs: `outputs/<job_id>/run-<n>/` with the output files and `manifest.json`.

A run's directory appears whole or not at all: everything is written into a hidden temporary
directory beside it, then renamed into place. The manifest ties the files to the ledger: job, run,
protocol, each output's sha256 (the digest the receipt carries), the claim and receipt
transactions, and the ledger engine.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alliance.canonical import sha256_digest
from node.errors import NodeError

MANIFEST = "manifest.json"
NPY_MAGIC = b"\x93NUMPY"


def output_file_name(name: str, data: bytes) -> str:
    """`result.npy` for a NumPy array, `result.json` for JSON, `result.bin` otherwise."""
    if data.startswith(NPY_MAGIC):
        return f"{name}.npy"
    if data[:1] in (b"{", b"["):
        return f"{name}.json"
    return f"{name}.bin"


def run_dir(outputs_root: Path, job_id: str, run: int) -> Path:
    return Path(outputs_root) / job_id / f"run-{run}"


@dataclass
class PendingOutputs:
    """A run's outputs, written but not yet delivered (in the temporary directory)."""

    final: Path
    tmp: Path
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def digests(self) -> dict[str, str]:
        return {name: o["digest"] for name, o in self.manifest["outputs"].items()}

    def deliver(self, **extra: Any) -> Path:
        """Add `extra` to the manifest and move the run's directory into place."""
        self.manifest.update(extra)
        _write_json(self.tmp / MANIFEST, self.manifest)
        if self.final.exists():
            raise NodeError(
                f"{self.final} already exists; a run is delivered once (remove it by hand if it "
                "is left from a broken run)"
            )
        os.replace(self.tmp, self.final)
        _fsync_dir(self.final.parent)
        return self.final

    def discard(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)


def stage_outputs(
    outputs_root: Path, job_id: str, run: int, outputs: dict[str, bytes], manifest: dict[str, Any]
) -> PendingOutputs:
    """Write `outputs` and a manifest into a temporary directory next to the final one."""
    final = run_dir(outputs_root, job_id, run)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".run-{run}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    described: dict[str, Any] = {}
    for name, data in sorted(outputs.items()):
        file_name = output_file_name(name, data)
        with open(tmp / file_name, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        described[name] = {"file": file_name, "digest": sha256_digest(data), "bytes": len(data)}
    pending = PendingOutputs(final, tmp, {**manifest, "job_id": job_id, "run": run,
                                          "outputs": described})
    _write_json(tmp / MANIFEST, pending.manifest)
    return pending


def list_outputs(outputs_root: Path) -> list[dict[str, Any]]:
    """Every delivered run's manifest (with its `dir`), oldest job id first."""
    found: list[dict[str, Any]] = []
    root = Path(outputs_root)
    if not root.is_dir():
        return found
    for manifest in sorted(root.glob(f"*/run-*/{MANIFEST}")):
        try:
            data = json.loads(manifest.read_text())
        except (OSError, ValueError):
            continue
        data["dir"] = str(manifest.parent)
        found.append(data)
    return found


def read_output(outputs_root: Path, job_id: str, run: int, name: str) -> bytes:
    """The bytes of output `name` of a delivered run, checked against its manifest digest."""
    folder = run_dir(outputs_root, job_id, run)
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
        entry = manifest["outputs"][name]
    except (OSError, ValueError, KeyError) as exc:
        raise NodeError(f"no delivered output {name!r} for {job_id} run {run} in {folder}") from exc
    data = (folder / entry["file"]).read_bytes()
    if sha256_digest(data) != entry["digest"]:
        raise NodeError(f"{folder / entry['file']} does not match its manifest digest")
    return data


def _write_json(path: Path, value: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as f:
        json.dump(value, f, indent=2, sort_keys=True)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
