"""`alliance dataset register|update|list|show|retire|history`: parsing and rendering; the use
cases live in `alliance.app.datasets`.

`register --file` fingerprints the file locally (schema, row count, Merkle root); only those go on
the ledger. The file is referenced in place, never copied.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from alliance.app import datasets
from alliance.app.clock import iso, when
from alliance.cli import output
from alliance.cli.parsing import UsageError, parse_types
from alliance.cli.progress import progress_display
from alliance.cli.session import add_dir_option, session
from alliance.models import Dataset

REGISTER_EPILOG = """\
The data is referenced in place: the rows stay in your file or table and are never copied; only
the schema, the row count and the fingerprint go on the ledger. Keep the file where it is; after
changing it, register the new content with `alliance dataset update`.

CSV files: a header row, then one row per record; the delimiter (, ; TAB |) is detected from the
header, or given with --delimiter. Column types are inferred (integer, decimal, boolean, date,
else string) unless given with --type COLUMN=TYPE. Numbers are written without thousands
separators (1234.50, not 1,234.50). Rows are numbered from 1 (the first row after the header) in
every message.
"""


def register(groups: Any) -> None:
    parser = groups.add_parser(
        "dataset", help="dataset assets: descriptions and fingerprints on the ledger"
    )
    commands = parser.add_subparsers(dest="command", metavar="ACTION", required=True)

    for name, help_text, handler in (
        ("register", "register a local file (or SQL table) as a dataset", register_dataset),
        ("update", "register a new version of one of your datasets", update_dataset),
    ):
        p = commands.add_parser(
            name, help=help_text, epilog=REGISTER_EPILOG,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        add_dir_option(p)
        p.add_argument("--name", required=True, help="dataset name, e.g. customers")
        source = p.add_mutually_exclusive_group(required=True)
        source.add_argument("--file", type=Path, help="CSV or Parquet file")
        source.add_argument("--sql", metavar="URL#TABLE", help="a table behind a SQLAlchemy URL")
        p.add_argument("--description", default="")
        p.add_argument("--tag", action="append", default=[], help="a tag (repeatable)")
        p.add_argument(
            "--derived-from", metavar="JOB:RUN:OUTPUT",
            help="the job output this data was made from (you must be one of its recipients); "
            "shown in `audit lineage`",
        )
        p.add_argument(
            "--type", action="append", default=[], metavar="COLUMN=TYPE",
            help="a CSV column's type instead of the inferred one "
            "(string, integer, decimal, boolean, date); repeatable",
        )
        p.add_argument(
            "--delimiter", default=None, metavar="CHAR",
            help="the CSV delimiter: , ; | : or tab (default: detected from the header)",
        )
        p.set_defaults(handler=handler)

    p = commands.add_parser("list", help="registered datasets")
    add_dir_option(p)
    p.add_argument("--owner")
    p.add_argument("--tag")
    p.add_argument("--all", action="store_true", help="include retired datasets")
    p.set_defaults(handler=list_datasets)

    p = commands.add_parser("show", help="one dataset")
    add_dir_option(p)
    p.add_argument("dataset_id", metavar="ORG/NAME")
    p.set_defaults(handler=show_dataset)

    p = commands.add_parser("retire", help="retire one of your datasets")
    add_dir_option(p)
    p.add_argument("name")
    p.set_defaults(handler=retire_dataset)

    p = commands.add_parser("history", help="every ledger change of a dataset")
    add_dir_option(p)
    p.add_argument("dataset_id", metavar="ORG/NAME")
    p.set_defaults(handler=dataset_history)


def _register(args: argparse.Namespace, update: bool) -> int:
    types = parse_types(args.type)
    with session(args) as s, progress_display(args.json) as progress:
        done = datasets.register_dataset(
            s, args.name, file=args.file, sql=args.sql, description=args.description,
            tags=args.tag, types=types, delimiter=args.delimiter, update=update,
            progress=progress, derived_from=_derived_from(args.derived_from),
        )
    if args.json:
        output.emit_json({**dataset_json(done.dataset), "location": done.location,
                          "note": done.note})
        return 0
    _show_fields(done.dataset)
    output.emit_message(f"note: {done.note}")
    return 0


def _derived_from(text: str | None) -> dict[str, Any] | None:
    if not text:
        return None
    job, _, rest = text.partition(":")
    run, _, name = rest.partition(":")
    if not job or not run.isdigit() or int(run) < 1 or not name:
        raise UsageError(
            f"--derived-from {text!r} is not JOB:RUN:OUTPUT (e.g. job-1a2b3c:1:intersection)"
        )
    return {"job": job, "run": int(run), "output": name}


def register_dataset(args: argparse.Namespace) -> int:
    return _register(args, update=False)


def update_dataset(args: argparse.Namespace) -> int:
    return _register(args, update=True)


def dataset_json(dataset: Dataset) -> dict[str, Any]:
    data = dataset.model_dump(mode="json", by_alias=True)
    for key in ("registered_at", "updated_at"):
        data[key.replace("_at", "_iso")] = iso(data[key])
    return data


def _show_fields(dataset: Dataset) -> None:
    output.emit_fields(
        f"Dataset {dataset.id} (version {dataset.version})",
        {
            "owner": dataset.owner,
            "status": dataset.status.value,
            "rows": dataset.row_count,
            "schema": ", ".join(f"{c.name}:{c.type}" for c in dataset.schema_),
            "fingerprint": dataset.fingerprint,
            "description": dataset.description,
            "tags": ", ".join(dataset.tags),
            "registered": when(dataset.registered_at),
            "updated": when(dataset.updated_at),
            "last tx": dataset.updated_tx,
        },
    )


def _show(args: argparse.Namespace, dataset: Dataset) -> int:
    if args.json:
        output.emit_json(dataset_json(dataset))
    else:
        _show_fields(dataset)
    return 0


def list_datasets(args: argparse.Namespace) -> int:
    with session(args) as s:
        found = datasets.list_datasets(s, args.owner, args.tag, bool(args.all))
    output.emit_listing(
        args.json,
        [dataset_json(d) for d in found] if args.json else found,
        "Datasets",
        ("id", "version", "rows", "columns", "status", "tags", "fingerprint"),
        lambda d: (
            d.id,
            d.version,
            d.row_count,
            ", ".join(c.name for c in d.schema_),
            d.status.value,
            ",".join(d.tags),
            d.fingerprint,
        ),
        keep=("id",),
    )
    return 0


def show_dataset(args: argparse.Namespace) -> int:
    with session(args) as s:
        return _show(args, datasets.show_dataset(s, args.dataset_id))


def retire_dataset(args: argparse.Namespace) -> int:
    with session(args) as s:
        return _show(args, datasets.retire_dataset(s, args.name))


def dataset_history(args: argparse.Namespace) -> int:
    with session(args) as s:
        entries = datasets.dataset_history(s, args.dataset_id)

    def row(h: dict[str, Any]) -> tuple[Any, ...]:
        value = h["value"] or {}
        return (
            h["tx_id"],
            when(h["timestamp"]),
            value.get("version", ""),
            "deleted" if h["is_delete"] else value.get("status", ""),
        )

    output.emit_listing(
        args.json,
        [{**h.__dict__, "timestamp_iso": iso(h.timestamp)} for h in entries],
        f"History of {args.dataset_id}",
        ("tx", "time", "version", "status"),
        row,
        keep=("tx",),
    )
    return 0
