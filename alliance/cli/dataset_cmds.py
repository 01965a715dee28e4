"""`alliance dataset register|update|list|show|retire|history`.

`register --file` fingerprints the file locally (schema, row count, Merkle root); only those go on
the ledger, and the node's own store records where the rows live.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from alliance.canonical import canonical_json
from alliance.cli import output
from alliance.cli.session import acting_org, add_dir_option, evaluate, net_dir, submit


def register(groups: Any) -> None:
    parser = groups.add_parser(
        "dataset", help="dataset assets: descriptions and fingerprints on the ledger"
    )
    commands = parser.add_subparsers(dest="command", metavar="ACTION", required=True)

    for name, help_text, handler in (
        ("register", "register a local file (or SQL table) as a dataset", register_dataset),
        ("update", "register a new version of one of your datasets", update_dataset),
    ):
        p = commands.add_parser(name, help=help_text)
        add_dir_option(p)
        p.add_argument("--name", required=True, help="dataset name, e.g. customers")
        source = p.add_mutually_exclusive_group(required=True)
        source.add_argument("--file", type=Path, help="CSV or Parquet file")
        source.add_argument("--sql", metavar="URL#TABLE", help="a table behind a SQLAlchemy URL")
        p.add_argument("--description", default="")
        p.add_argument("--tag", action="append", default=[], help="a tag (repeatable)")
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


def _describe_local(args: argparse.Namespace) -> tuple[Any, str, dict[str, Any]]:
    """Fingerprint the local source; returns (fingerprint, location, ledger spec)."""
    from node.sources import open_source

    location = str(args.file.resolve()) if args.file else args.sql
    fp = open_source(location).fingerprint()
    spec = {
        "name": args.name,
        "schema": fp.schema,
        "row_count": fp.row_count,
        "fingerprint": fp.fingerprint,
        "description": args.description,
        "tags": sorted(set(args.tag)),
    }
    return fp, location, spec


def _remember_locally(
    args: argparse.Namespace, fp: Any, location: str, dataset: dict[str, Any]
) -> None:
    """Record in the node's store where the rows live, so the node can use them for jobs."""
    import json

    from node.paths import node_store_path
    from node.store import LocalDataset, NodeStore

    store = NodeStore(node_store_path(net_dir(args), acting_org(args)))
    store.put_dataset(
        LocalDataset(
            name=args.name,
            location=location,
            columns_json=json.dumps(fp.schema),
            row_count=fp.row_count,
            fingerprint=fp.fingerprint,
            merkle_root=fp.merkle_root,
            ledger_version=dataset["version"],
            ledger_tx=dataset["updated_tx"],
        )
    )


def register_dataset(args: argparse.Namespace) -> int:
    fp, location, spec = _describe_local(args)
    dataset = submit(args, "RegisterDataset", canonical_json(spec).decode())
    _remember_locally(args, fp, location, dataset)
    return _show(args, dataset)


def update_dataset(args: argparse.Namespace) -> int:
    fp, location, spec = _describe_local(args)
    dataset = submit(args, "NewDatasetVersion", args.name, canonical_json(spec).decode())
    _remember_locally(args, fp, location, dataset)
    return _show(args, dataset)


def _show(args: argparse.Namespace, dataset: dict[str, Any]) -> int:
    if args.json:
        output.emit_json(dataset)
        return 0
    output.emit_fields(
        f"Dataset {dataset['id']} (version {dataset['version']})",
        {
            "owner": dataset["owner"],
            "status": dataset["status"],
            "rows": dataset["row_count"],
            "schema": ", ".join(f"{c['name']}:{c['type']}" for c in dataset["schema"]),
            "fingerprint": dataset["fingerprint"],
            "description": dataset["description"],
            "tags": ", ".join(dataset["tags"]),
            "last tx": dataset["updated_tx"],
        },
    )
    return 0


def list_datasets(args: argparse.Namespace) -> int:
    query: dict[str, Any] = {"include_retired": bool(args.all)}
    if args.owner:
        query["owner"] = args.owner
    if args.tag:
        query["tag"] = args.tag
    output.emit_listing(
        args.json,
        evaluate(args, "ListDatasets", canonical_json(query).decode()),
        "Datasets",
        ("id", "version", "rows", "columns", "status", "tags", "fingerprint"),
        lambda d: (
            d["id"],
            d["version"],
            d["row_count"],
            len(d["schema"]),
            d["status"],
            ",".join(d["tags"]),
            d["fingerprint"][:23] + "…",
        ),
    )
    return 0


def show_dataset(args: argparse.Namespace) -> int:
    return _show(args, evaluate(args, "GetDataset", args.dataset_id))


def retire_dataset(args: argparse.Namespace) -> int:
    return _show(args, submit(args, "RetireDataset", args.name))


def dataset_history(args: argparse.Namespace) -> int:
    def row(h: dict[str, Any]) -> tuple[Any, ...]:
        value = h.get("value") or {}
        return (
            h["tx_id"],
            h["timestamp"],
            value.get("version", ""),
            "deleted" if h["is_delete"] else value.get("status", ""),
        )

    output.emit_listing(
        args.json,
        evaluate(args, "DatasetHistory", args.dataset_id),
        f"History of {args.dataset_id}",
        ("tx", "timestamp", "version", "status"),
        row,
    )
    return 0
