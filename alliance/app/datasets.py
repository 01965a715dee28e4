"""Dataset use cases: register (fingerprinting the local file with progress), update, list, show,
retire, history.

A dataset is referenced in place: the rows stay in the owner's file or table, which is never
copied; only the schema, row count and fingerprint go on the ledger, and the owner's node store
records where the rows live. Moving or editing the file after registering it makes the node
refuse jobs on it until `alliance dataset update` registers the new content.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alliance.app.errors import BadInput, FileMissing, mapped_errors
from alliance.app.jobs import HistoryEntry
from alliance.app.progress import Progress, ProgressFn, no_progress
from alliance.app.session import Session
from alliance.canonical import canonical_json
from alliance.models import Dataset, DatasetFilter, DatasetSpec

IN_PLACE_NOTE = (
    "the data stays where it is and is not copied: keep {location} in place; after changing it, "
    "register the new content with `alliance dataset update --name {name} --file ...`"
)


@dataclass(frozen=True)
class Registration:
    """A dataset just registered (or versioned), and where its rows stay."""

    dataset: Dataset
    location: str
    note: str


DELIMITERS = {",": ",", ";": ";", "|": "|", ":": ":", "tab": "\t", "\\t": "\t", "\t": "\t"}
"""What `--delimiter` accepts (a TAB as `tab`, `\\t` or the character itself)."""


def _delimiter(text: str | None) -> str | None:
    if text is None:
        return None
    if text not in DELIMITERS:
        raise BadInput(
            f"--delimiter {text!r}: use one of , ; | : or tab (by default it is detected from "
            "the header)"
        )
    return DELIMITERS[text]


def _source(
    file: Path | None, sql: str | None, types: dict[str, str], delimiter: str | None = None
) -> Any:
    from node.sources import FileSource, open_source

    if file is not None:
        path = Path(file).expanduser()
        if not path.is_file():
            raise FileMissing(f"data file {path} does not exist (or is not a file)")
        return FileSource(path.resolve(), tuple(sorted(types.items())), _delimiter(delimiter))
    if not sql:
        raise BadInput("name the data: --file PATH (CSV or Parquet) or --sql URL#TABLE")
    if types or delimiter:
        raise BadInput("--type and --delimiter apply to CSV files; a SQL table has its own")
    return open_source(sql)


def _counted(
    batches: Iterator[Sequence[Sequence[str]]], task: str, progress: ProgressFn
) -> Iterator[Sequence[Sequence[str]]]:
    rows = 0
    for batch in batches:
        rows += len(batch[0]) if batch else 0
        progress(Progress(task, rows, None))
        yield batch


def fingerprint_source(source: Any, progress: ProgressFn = no_progress) -> Any:
    """The source's fingerprint (schema, rows, Merkle root), reporting rows read as it goes."""
    from alliance import datafile
    from alliance.fingerprint import fingerprint_batches
    from node.sources import FileSource

    with mapped_errors():
        if not isinstance(source, FileSource):
            progress(Progress(f"fingerprinting {source.location}"))
            return source.fingerprint()
        name = source.path.name
        progress(Progress(f"reading the column types of {name}"))
        schema = source.schema()
        task = f"fingerprinting {name} (rows)"
        batches = datafile.iter_batches(source.path, schema, delimiter=source.delimiter)
        result = fingerprint_batches(schema, _counted(batches, task, progress))
        progress(Progress(task, result.row_count, result.row_count, finished=True))
        return result


def _spec(
    name: str, fp: Any, description: str, tags: list[str],
    derived_from: dict[str, Any] | None = None,
) -> str:
    from pydantic import ValidationError

    from alliance.app.errors import validation_message

    try:
        spec = DatasetSpec.model_validate(
            {
                "name": name,
                "schema": tuple(fp.schema),
                "row_count": fp.row_count,
                "fingerprint": fp.fingerprint,
                "description": description,
                "tags": tuple(sorted(set(tags))),
                "derived_from": derived_from,
            },
            strict=False,
        )
    except ValidationError as exc:
        raise BadInput(f"the dataset is not valid: {validation_message(exc)}") from exc
    return canonical_json(
        spec.model_dump(mode="json", by_alias=True, exclude_none=True)
    ).decode()


def _remember(session: Session, name: str, fp: Any, location: str, dataset: Dataset) -> None:
    """Record in the node's store where the rows live, so the node can use them for jobs."""
    from node.paths import node_store_path
    from node.store import LocalDataset, NodeStore

    with mapped_errors():
        store = NodeStore(node_store_path(session.net_dir, session.org))
        store.put_dataset(
            LocalDataset(
                name=name,
                location=location,
                columns_json=json.dumps(fp.schema),
                row_count=fp.row_count,
                fingerprint=fp.fingerprint,
                merkle_root=fp.merkle_root,
                ledger_version=dataset.version,
                ledger_tx=dataset.updated_tx,
            )
        )


def register_dataset(
    session: Session,
    name: str,
    *,
    file: Path | None = None,
    sql: str | None = None,
    description: str = "",
    tags: Sequence[str] = (),
    types: dict[str, str] | None = None,
    delimiter: str | None = None,
    update: bool = False,
    progress: ProgressFn = no_progress,
    derived_from: dict[str, Any] | None = None,
) -> Registration:
    """Fingerprint the local data and register it (or, with `update`, a new version of it)."""
    source = _source(file, sql, dict(types or {}), delimiter)
    fp = fingerprint_source(source, progress)
    spec = _spec(name, fp, description, list(tags), derived_from)
    if update:
        answer = session.submit("NewDatasetVersion", name, spec)
    else:
        answer = session.submit("RegisterDataset", spec)
    dataset = Dataset.model_validate(answer)
    _remember(session, name, fp, source.location, dataset)
    shown = str(source.path) if hasattr(source, "path") else source.location
    return Registration(dataset, source.location, IN_PLACE_NOTE.format(location=shown, name=name))


def list_datasets(
    session: Session,
    owner: str | None = None,
    tag: str | None = None,
    include_retired: bool = False,
) -> list[Dataset]:
    query = DatasetFilter(owner=owner, tag=tag, include_retired=include_retired)
    body = canonical_json(query.model_dump(mode="json", exclude_none=True)).decode()
    return [Dataset.model_validate(d) for d in session.evaluate("ListDatasets", body)]


def _dataset_id(session: Session, text: str) -> str:
    """`org/name`, or a bare name of one of the acting org's datasets."""
    return text if "/" in text else f"{session.org}/{text}"


def show_dataset(session: Session, dataset_id: str) -> Dataset:
    return Dataset.model_validate(session.evaluate("GetDataset", _dataset_id(session, dataset_id)))


def retire_dataset(session: Session, name: str) -> Dataset:
    own = name.split("/", 1)[1] if name.startswith(f"{session.org}/") else name
    return Dataset.model_validate(session.submit("RetireDataset", own))


def dataset_history(session: Session, dataset_id: str) -> list[HistoryEntry]:
    items = session.evaluate("DatasetHistory", _dataset_id(session, dataset_id))
    return [
        HistoryEntry(h["tx_id"], int(h["timestamp"]), bool(h.get("is_delete")), h.get("value"))
        for h in items
    ]


@dataclass(frozen=True)
class FilePreview:
    """A data file before registration: first rows and the inferred schema."""

    path: Path
    columns: list[dict[str, str]]
    rows: list[list[str]]


def preview_file(path: Path, rows: int = 5) -> FilePreview:
    """First rows and inferred schema of a CSV or Parquet file (nothing is sent)."""
    from itertools import islice

    from alliance.datafile import infer_schema, iter_batches, schema_dicts

    path = Path(path).expanduser()
    with mapped_errors():
        schema = infer_schema(path)
        first: list[list[str]] = []
        for batch in islice(iter_batches(path, schema, batch_rows=rows), 1):
            first = [list(r) for r in zip(*batch, strict=True)]
    return FilePreview(path, schema_dicts(schema), first[:rows])


def row_total(path: Path) -> int | None:
    """Rows in a data file, cheaply (CSV: non-blank lines minus the header; Parquet: metadata);
    None when it cannot be counted (the progress then has no total)."""
    try:
        if path.suffix.lower() == ".parquet":
            import pyarrow.parquet as pq

            return int(pq.ParquetFile(path).metadata.num_rows)
        with path.open("rb") as f:
            return max(sum(1 for line in f if line.strip()) - 1, 0)
    except Exception:
        return None
