"""Where a node keeps its files inside NET: store, outputs, logs, run records."""

from __future__ import annotations

from pathlib import Path


def node_dir(net_dir: Path, org: str) -> Path:
    return Path(net_dir) / "orgs" / org / "node"


def node_store_path(net_dir: Path, org: str) -> Path:
    return node_dir(net_dir, org) / "node.sqlite"


def outputs_dir(net_dir: Path, org: str) -> Path:
    return node_dir(net_dir, org) / "outputs"


def node_log_path(net_dir: Path, org: str) -> Path:
    return Path(net_dir) / "run" / f"node-{org}.log"


def node_run_file(net_dir: Path, org: str) -> Path:
    return Path(net_dir) / "run" / f"node-{org}.json"
