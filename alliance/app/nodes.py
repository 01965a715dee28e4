"""Node use cases: whether a member's node runs and what it did (its job runs, its checkpoint),
and the outputs it delivered (`alliance.app.results`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alliance.app.errors import mapped_errors


@dataclass(frozen=True)
class NodeReport:
    org: str
    running: bool
    pid: int | None
    port: int | None
    log: str
    datasets: list[str] = field(default_factory=list)
    checkpoint_block: int | None = None
    runs: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def node_report(net_dir: Path, org: str) -> NodeReport:
    from node.launcher import node_status
    from node.paths import node_store_path
    from node.store import NodeStore

    net_dir = Path(net_dir).resolve()
    with mapped_errors():
        info = node_status(net_dir, org)
        store = NodeStore(node_store_path(net_dir, org))
        runs = [
            {"job_id": r.job_id, "run": r.run, "state": r.state, "detail": r.detail}
            for r in store.runs()
        ]
        checkpoint = store.checkpoint()
        datasets = [d.name for d in store.datasets()]
    return NodeReport(org, bool(info["running"]), info.get("pid"), info.get("port"),
                      str(info["log"]), datasets, checkpoint.block, runs)
