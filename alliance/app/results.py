"""Finding and reading delivered outputs: what a member's node holds (`node outputs`) and one
job's output as a value or a file a user can open (`job result`).

Outputs live under the org's node directory, one folder per delivered run with a manifest that
ties each file to its digest on the ledger (see `node.outputs`). Every read re-checks that digest.
Formats, by what the protocol writes:

    value       stats sum/mean/count and psi cardinality: canonical JSON -> the value, printed
    histogram   stats histogram: JSON edges and counts -> printed
    ids         psi intersection: one id per line -> a CSV file with a header, or Parquet
    vector      stats elementwise_sum, lr_predict scores: .npy -> a CSV file with a header, or
                Parquet
    table       modelling outputs (iv, bins.ORG, model.ORG, evaluation, scorecard.ORG): a table
                to print (alliance/app/model_results.py); a scorecard also as a CSV file
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alliance.app import model_results
from alliance.app.errors import BadInput, LocalTrouble, Refused, mapped_errors
from alliance.app.jobs import resolve_job_id, show_job
from alliance.app.session import Session
from alliance.canonical import DIGEST_PREFIX

FORMATS = ("csv", "parquet")


@dataclass(frozen=True)
class DeliveredOutput:
    job_id: str
    run: int
    protocol: str
    name: str
    path: str
    digest: str
    bytes: int
    receipt_tx: str
    kind: str
    value: str | None
    """The value itself for small outputs (stats values, cardinalities), else None."""

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class JobResult:
    job_id: str
    run: int
    output: str
    kind: str
    value: Any | None
    """The value for value and histogram outputs."""
    path: str | None
    """The file written (ids, vectors, or --to), else None."""
    format: str | None
    rows: int | None = None
    view: dict[str, Any] | None = None
    """Modelling outputs: a table a person reads (alliance/app/model_results.py)."""

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _kind(name: str, file: str, protocol: str) -> str:
    if file.endswith(".npy"):
        return "vector"
    if protocol == "psi" and name == "intersection":
        return "ids"
    return "value"


def _short_value(path: Path, kind: str) -> tuple[str, Any] | None:
    """(kind, value) of a JSON output: the value, or a histogram's edges and counts."""
    if kind != "value" or path.stat().st_size > 1_000_000:
        return None
    data = json.loads(path.read_bytes())
    if isinstance(data, dict) and data.get("op") == "histogram":
        return "histogram", {"edges": data["edges"], "counts": data["counts"]}
    if isinstance(data, dict) and "value" in data:
        return "value", data["value"]
    if isinstance(data, dict) and "cardinality" in data:
        return "value", data["cardinality"]
    return "value", data


def _check_digest(path: Path, digest: str) -> None:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    if DIGEST_PREFIX + h.hexdigest() != digest:
        raise Refused(
            f"{path} does not match the digest in its manifest ({digest}): it was changed after "
            "delivery; do not use it"
        )


def delivered_outputs(net_dir: Path, org: str, job_id: str | None = None) -> list[DeliveredOutput]:
    """Every output the org's node has delivered (of one job, if given), oldest first."""
    from node.outputs import list_outputs
    from node.paths import outputs_dir

    found = []
    with mapped_errors():
        runs = list_outputs(outputs_dir(Path(net_dir).resolve(), org))
        for manifest in runs:
            if job_id is not None and manifest["job_id"] != job_id:
                continue
            protocol = str(manifest.get("protocol", ""))
            for name, entry in sorted(manifest["outputs"].items()):
                path = Path(manifest["dir"]) / entry["file"]
                kind = _kind(name, entry["file"], protocol)
                short = _short_value(path, kind) if path.is_file() else None
                value = None
                if short is not None:
                    kind, raw = short
                    value = raw if isinstance(raw, str) else json.dumps(raw, sort_keys=True)
                found.append(
                    DeliveredOutput(
                        job_id=manifest["job_id"],
                        run=int(manifest["run"]),
                        protocol=protocol,
                        name=name,
                        path=str(path),
                        digest=entry["digest"],
                        bytes=int(entry.get("bytes", 0)),
                        receipt_tx=str(manifest.get("receipt_tx", "")),
                        kind=kind,
                        value=value,
                    )
                )
    return found


def delivered_runs(net_dir: Path, org: str) -> list[dict[str, Any]]:
    """Each delivered run's manifest (job, run, protocol, `dir`, outputs), every output entry
    completed with its `path`, `kind` and, for small outputs, `value`."""
    from node.outputs import list_outputs
    from node.paths import outputs_dir

    items = {(o.job_id, o.run, o.name): o for o in delivered_outputs(net_dir, org)}
    with mapped_errors():
        runs = list_outputs(outputs_dir(Path(net_dir).resolve(), org))
    for manifest in runs:
        for name, entry in manifest["outputs"].items():
            item = items.get((manifest["job_id"], int(manifest["run"]), name))
            if item is not None:
                entry.update(path=item.path, kind=item.kind, value=item.value)
    return runs


def _ids(path: Path) -> Iterator[str]:
    """The ids of an intersection output: a CSV file with the header `id` (RFC 4180 quoting),
    or, from nodes before it was one, plain text with one id a line."""
    if path.suffix == ".csv":
        import csv

        with open(path, encoding="utf-8", newline="") as f:
            rows = csv.reader(f)
            next(rows, None)
            for row in rows:
                if row:
                    yield row[0]
        return
    with open(path, encoding="utf-8", newline="\n") as f:
        for line in f:
            text = line.rstrip("\n")
            if text:
                yield text


def _column_name(job: Any, org: str, kind: str) -> str:
    if kind == "ids":
        mine = [i.column for i in job.inputs if i.owner == org]
        return mine[0] if mine else "id"
    return "value"


def _write(values: Iterator[Any], column: str, target: Path, fmt: str) -> int:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".part")
    rows = 0
    if fmt == "csv":
        import csv

        with open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow([column])
            for value in values:
                writer.writerow([value])
                rows += 1
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        items = list(values)
        rows = len(items)
        pq.write_table(pa.table({column: items}), tmp)
    tmp.replace(target)
    return rows


def _model_result(job_id: str, run: int, output: str, path: Path, to: Path | None) -> JobResult:
    """A modelling output as a table; a scorecard is also written as CSV (to --to, or
    ./JOB-OUTPUT.csv), any other output's JSON to --to if given."""
    shown = model_results.view(output, path.read_bytes())
    target: Path | None = None
    if shown.csv is not None:
        target = Path(to) if to is not None else Path.cwd() / f"{job_id}-{output}.csv"
        target.write_text(shown.csv)
    elif to is not None:
        target = Path(to)
        target.write_bytes(path.read_bytes())
    fmt = None if target is None else ("csv" if shown.csv is not None else "json")
    return JobResult(job_id, run, output, "table", None,
                     str(target.resolve()) if target else None, fmt,
                     len(shown.rows) if shown.csv is not None else None, shown.to_dict())


def job_result(
    session: Session,
    job_id: str,
    *,
    output: str | None = None,
    fmt: str | None = None,
    to: Path | None = None,
    run: int = 0,
) -> JobResult:
    """One output of a completed job delivered to the session's org: its value, or a file."""
    full = resolve_job_id(session, job_id)
    job = show_job(session, full)
    mine = job.recipients_of(session.org)
    if not mine:
        raise BadInput(
            f"{session.org} receives no output of {full} (its outputs go to: "
            + "; ".join(f"{n} -> {', '.join(o)}" for n, o in sorted(job.outputs.items()))
            + "); run this as a recipient with `--as ORG`"
        )
    if output is None:
        if len(mine) > 1:
            raise BadInput(
                f"{session.org} receives {len(mine)} outputs of {full} ({', '.join(mine)}); "
                "choose one with --output NAME"
            )
        output = mine[0]
    if output not in mine:
        raise BadInput(
            f"{session.org} receives no output {output!r} of {full}; it receives: {', '.join(mine)}"
        )
    if fmt is not None and fmt not in FORMATS:
        raise BadInput(f"--format {fmt!r}: use one of {', '.join(FORMATS)}")
    delivered = [
        o for o in delivered_outputs(session.net_dir, session.org, full) if o.name == output
    ]
    if run:
        delivered = [o for o in delivered if o.run == run]
    if not delivered:
        raise LocalTrouble(
            f"the node of {session.org} holds no delivered {output!r} of {full} yet (the job is "
            f"{job.state.value}); wait for it with `alliance --as {session.org} job wait {full}`"
        )
    item = max(delivered, key=lambda o: o.run)
    path = Path(item.path)
    with mapped_errors():
        _check_digest(path, item.digest)
        if model_results.has_view(item.protocol, output):
            return _model_result(full, item.run, output, path, to)
        if item.kind in ("value", "histogram"):
            short = _short_value(path, "value")
            value = short[1] if short else None
            if to is not None:
                Path(to).write_bytes(path.read_bytes())
            return JobResult(full, item.run, output, item.kind, value,
                             str(Path(to).resolve()) if to else None, "json" if to else None)
        fmt = fmt or (Path(to).suffix.lstrip(".") if to and Path(to).suffix in (".csv", ".parquet")
                      else "csv")
        target = Path(to) if to is not None else Path.cwd() / f"{full}-{output}.{fmt}"
        column = _column_name(job, session.org, item.kind)
        if item.kind == "ids":
            values: Iterator[Any] = _ids(path)
        else:
            import numpy as np

            values = (repr(float(v)) for v in np.load(path, allow_pickle=False))
        rows = _write(values, column, target, fmt)
    return JobResult(full, item.run, output, item.kind, None, str(target.resolve()), fmt, rows)
