"""Outputs: staged in `outputs/<job>/.run-<n>.staging/`, delivered as `outputs/<job>/run-<n>/`.

A run's outputs are written (streamed, digested as they pass: `node.mpc.protocol.write_output`)
into its staging directory with a manifest, before the run's receipt is submitted; the node's
store records the staged run at the same point (`NodeStore.stage_run`). The staging directory's
name is fixed by (job, run), so a restarted node finds it again. Delivery is one rename into
place, after the files are re-digested and checked against the digests the ledger agreed on; a
run that ends FAILED or DISPUTED has its staging directory deleted. At start, `sweep_staging`
deletes every staging directory the store does not know (left by a crash before the store
recorded it, or by an older version's `.run-<n>.tmp-<pid>` directories), so no plaintext stays in
a hidden directory.

The manifest ties the files to the ledger: job, run, protocol, each output's file, sha256 digest
(the digest the receipt carries) and size, the claim, receipt and completion transactions, and
the ledger engine.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from node.errors import NodeError
from node.mpc.protocol import OutputValue, StreamedOutput, write_output

MANIFEST = "manifest.json"
NPY_MAGIC = b"\x93NUMPY"
STAGING_SUFFIX = ".staging"


def output_file_name(name: str, data: OutputValue) -> str:
    """`<name>.<suffix>` for a streamed output; for bytes `.npy` (NumPy), `.json` (JSON), or
    `.bin`."""
    if isinstance(data, StreamedOutput):
        return f"{name}.{data.suffix}"
    if data.startswith(NPY_MAGIC):
        return f"{name}.npy"
    if data[:1] in (b"{", b"["):
        return f"{name}.json"
    return f"{name}.bin"


def run_dir(outputs_root: Path, job_id: str, run: int) -> Path:
    return Path(outputs_root) / job_id / f"run-{run}"


def staging_dir(outputs_root: Path, job_id: str, run: int) -> Path:
    return Path(outputs_root) / job_id / f".run-{run}{STAGING_SUFFIX}"


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return "sha256:" + digest.hexdigest()


@dataclass
class PendingOutputs:
    """A run's outputs, staged but not yet delivered."""

    final: Path
    tmp: Path
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def digests(self) -> dict[str, str]:
        return {name: o["digest"] for name, o in self.manifest["outputs"].items()}

    @classmethod
    def find(cls, outputs_root: Path, job_id: str, run: int) -> PendingOutputs | None:
        """The staged outputs of (job, run) a previous process left, or None."""
        tmp = staging_dir(outputs_root, job_id, run)
        try:
            manifest = json.loads((tmp / MANIFEST).read_text())
        except (OSError, ValueError):
            return None
        return cls(run_dir(outputs_root, job_id, run), tmp, manifest)

    def deliver(self, agreed: dict[str, str] | None = None, **extra: Any) -> Path:
        """Re-digest the staged files (each must match its manifest digest and, if given, the
        digest the ledger agreed on), add `extra` to the manifest, move the directory into place."""
        for name, entry in self.manifest["outputs"].items():
            path = self.tmp / entry["file"]
            try:
                found = file_digest(path)
            except OSError as exc:
                raise NodeError(f"staged output {path} cannot be read: {exc.strerror}") from exc
            expected = {entry["digest"]} | ({agreed[name]} if agreed and name in agreed else set())
            if expected != {found}:
                raise NodeError(
                    f"staged output {path} has digest {found}, not the agreed "
                    f"{', '.join(sorted(expected))}; it was changed on disk and is not delivered"
                )
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
    outputs_root: Path, job_id: str, run: int, outputs: dict[str, OutputValue],
    manifest: dict[str, Any],
) -> PendingOutputs:
    """Write `outputs` (streamed, digested as written) and a manifest into the run's staging
    directory. The caller records the staged run in the store before submitting the receipt."""
    final = run_dir(outputs_root, job_id, run)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = staging_dir(outputs_root, job_id, run)
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    described: dict[str, Any] = {}
    try:
        for name, data in sorted(outputs.items()):
            file_name = output_file_name(name, data)
            with open(tmp / file_name, "wb") as f:
                digest, size = write_output(data, f)
                f.flush()
                os.fsync(f.fileno())
            described[name] = {"file": file_name, "digest": digest, "bytes": size}
        pending = PendingOutputs(final, tmp, {**manifest, "job_id": job_id, "run": run,
                                              "outputs": described})
        _write_json(tmp / MANIFEST, pending.manifest)
        _fsync_dir(tmp.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return pending


def sweep_staging(outputs_root: Path, keep: Iterable[tuple[str, int]]) -> list[Path]:
    """Delete every staging (or older temporary) directory under `outputs_root` but those of the
    (job, run) pairs in `keep`; the deleted paths."""
    kept = {staging_dir(outputs_root, job, run) for job, run in keep}
    removed: list[Path] = []
    root = Path(outputs_root)
    if not root.is_dir():
        return removed
    for path in sorted(root.glob("*/.run-*")):
        if path in kept or not path.is_dir():
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


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
    path = folder / entry["file"]
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != entry["digest"].removeprefix("sha256:"):
        raise NodeError(f"{path} does not match its manifest digest")
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
