"""Node use cases: whether a member's node runs and what it did (its job runs, its checkpoint),
each member node's health as this org can know it, and the outputs it delivered
(`alliance.app.results`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alliance.app.errors import mapped_errors
from alliance.models import Job, JobState, Member, MemberStatus


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


@dataclass(frozen=True)
class NodeHealth:
    """One member node's health as this org can know it. For this org's own node: whether its
    process runs and the last ledger block its event listener checkpointed. For another org's
    node only the ledger speaks: `up` and `checkpoint_block` are None, and `running_jobs` are
    the running jobs the org has claimed there (a claim says its node took part, not that it is
    up now)."""

    org: str
    own: bool
    up: bool | None
    checkpoint_block: int | None
    running_jobs: list[str] = field(default_factory=list)

    @property
    def source(self) -> str:
        return "this machine" if self.own else "ledger only"


def running_claims(jobs: list[Job]) -> dict[str, list[str]]:
    """org -> ids of the RUNNING jobs whose current run that org has claimed on the ledger."""
    claims: dict[str, list[str]] = {}
    for job in jobs:
        if job.state == JobState.RUNNING:
            for org in sorted(job.claims):
                claims.setdefault(org, []).append(job.id)
    return claims


def local_node(net_dir: Path, org: str) -> tuple[bool, int | None]:
    """(runs, checkpoint block) of `org`'s node on this machine; the store is only read, never
    created (a node that never ran has no checkpoint)."""
    from node.launcher import node_status
    from node.paths import node_store_path
    from node.store import NodeStore

    net_dir = Path(net_dir).resolve()
    with mapped_errors():
        running = bool(node_status(net_dir, org)["running"])
        path = node_store_path(net_dir, org)
        block = NodeStore(path).checkpoint().block if path.exists() else None
    return running, block


def node_health(
    members: list[Member], jobs: list[Job], own_org: str, own_node: tuple[bool, int | None]
) -> list[NodeHealth]:
    """Each active member's node (an org with the `member` role: an auditor runs none): this
    org's from `own_node` (see `local_node`), the others' from the ledger's claims only."""
    claims = running_claims(jobs)
    health = []
    for m in members:
        if m.status != MemberStatus.ACTIVE or "member" not in m.roles:
            continue
        own = m.org == own_org
        up, block = own_node if own else (None, None)
        health.append(NodeHealth(m.org, own, up, block, claims.get(m.org, [])))
    return health
