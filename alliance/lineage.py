"""Lineage: every dataset version, job, approval, receipt and output as one graph (pure).

Built from what the ledger records — each dataset's history of versions, each job's record
(inputs pinned to a version and fingerprint, approvals, receipts, results) and the charter's
history — so a regulator can follow the data from its registration to every result made from it,
with who approved what, when, under which charter version.

Node ids: `dataset:<owner>/<name>@<version>`, `job:<id>`, `receipt:<job>/<run>/<org>`,
`output:<job>/<run>/<name>`. Edges: `input` (dataset version → job), `receipt` (job → receipt),
`output` (job → output), `attests` (receipt → output it reported the same digest for),
`derived` (output → the dataset version registered from it).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    kind: str
    label: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"from": self.source, "to": self.target, "kind": self.kind, "label": self.label}


@dataclass
class Graph:
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    edges: set[Edge] = field(default_factory=set)

    def add(self, node_id: str, **attrs: Any) -> None:
        self.nodes.setdefault(node_id, {"id": node_id}).update(attrs)

    def link(self, source: str, target: str, kind: str, label: str = "") -> None:
        self.edges.add(Edge(source, target, kind, label))

    def to_dict(self) -> dict[str, Any]:
        return {
            "nodes": [self.nodes[k] for k in sorted(self.nodes)],
            "edges": [e.to_dict() for e in sorted(self.edges, key=_edge_key)],
        }

    def component(self, start: Iterable[str]) -> Graph:
        """The nodes reachable from `start` along edges either way, and their edges."""
        neighbours: dict[str, set[str]] = {}
        for e in self.edges:
            neighbours.setdefault(e.source, set()).add(e.target)
            neighbours.setdefault(e.target, set()).add(e.source)
        seen: set[str] = set()
        todo = [s for s in start if s in self.nodes]
        while todo:
            node = todo.pop()
            if node in seen:
                continue
            seen.add(node)
            todo.extend(neighbours.get(node, set()) - seen)
        return Graph(
            {k: v for k, v in self.nodes.items() if k in seen},
            {e for e in self.edges if e.source in seen and e.target in seen},
        )


def _edge_key(e: Edge) -> tuple[str, str, str, str]:
    return (e.source, e.target, e.kind, e.label)


def charter_version_at(charter_history: list[dict[str, Any]], at: int) -> int | None:
    """The charter version in force at time `at` (history entries: timestamp, value)."""
    version = None
    for entry in sorted(charter_history, key=lambda h: h["timestamp"]):
        if entry["timestamp"] <= at and entry.get("value"):
            version = int(entry["value"]["version"])
    return version


def build(
    dataset_histories: dict[str, list[dict[str, Any]]],
    jobs: list[dict[str, Any]],
    charter_history: list[dict[str, Any]],
) -> Graph:
    """The whole graph from dataset histories (by id, any order), job records and the
    charter's history (each history entry: tx_id, timestamp, value)."""
    graph = Graph()
    for dataset_id, history in dataset_histories.items():
        for entry in history:
            record = entry.get("value")
            if not record:
                continue
            graph.add(
                f"dataset:{dataset_id}@{record['version']}",
                kind="dataset",
                dataset=dataset_id,
                owner=record["owner"],
                version=record["version"],
                fingerprint=record["fingerprint"],
                rows=record["row_count"],
                status=record["status"],
                registered_at=entry["timestamp"],
                tx_id=entry["tx_id"],
                derived_from=record.get("derived_from"),
            )
            link = record.get("derived_from")
            if link:
                graph.link(f"output:{link['job']}/{link['run']}/{link['output']}",
                           f"dataset:{dataset_id}@{record['version']}", "derived")
    for job in jobs:
        job_node = f"job:{job['id']}"
        graph.add(
            job_node,
            kind="job",
            protocol=job["protocol"],
            parameters=job["parameters"],
            requester=job["requester"],
            state=job["state"],
            requested_at=job["created_at"],
            tx_id=job["created_tx"],
            charter_version=charter_version_at(charter_history, job["created_at"]),
            approvals={
                org: {"at": a["at"], "tx_id": a["tx_id"], "by_request": a.get("by_request", False)}
                for org, a in sorted(job["approvals"].items())
            },
            votes={org: v["vote"] for org, v in sorted(job.get("votes", {}).items())},
            outputs={name: list(to) for name, to in sorted(job["outputs"].items())},
        )
        for item in job["inputs"]:
            source = f"dataset:{item['dataset']}@{item['version']}"
            graph.add(source, kind="dataset", dataset=item["dataset"], owner=item["owner"],
                      version=item["version"], fingerprint=item["fingerprint"])
            graph.link(source, job_node, "input", item["column"])
        for run, receipts in sorted(job.get("receipts", {}).items()):
            for org, receipt in sorted(receipts.items()):
                node = f"receipt:{job['id']}/{run}/{org}"
                graph.add(
                    node,
                    kind="receipt",
                    org=org,
                    run=int(run),
                    at=receipt["at"],
                    tx_id=receipt["tx_id"],
                    signer=receipt["signer"],
                    input_fingerprints=receipt["input_fingerprints"],
                    output_digests=receipt["output_digests"],
                    engine_version=receipt["engine_version"],
                )
                graph.link(job_node, node, "receipt", f"run {run}")
        for run, result in sorted(job.get("results", {}).items()):
            for name, digest in sorted(result["output_digests"].items()):
                node = f"output:{job['id']}/{run}/{name}"
                graph.add(node, kind="output", job=job["id"], run=int(run), name=name,
                          digest=digest, recipients=list(job["outputs"].get(name, [])),
                          state=result["state"], at=result["at"], tx_id=result["tx_id"])
                graph.link(job_node, node, "output", name)
                for org, receipt in sorted(job.get("receipts", {}).get(run, {}).items()):
                    if receipt["output_digests"].get(name) == digest:
                        graph.link(f"receipt:{job['id']}/{run}/{org}", node, "attests")
    return graph


def start_nodes(
    graph: Graph, *, dataset: str | None = None, job: str | None = None, digest: str | None = None
) -> list[str]:
    """The nodes a lineage question starts from: every version of a dataset, a job, or the
    outputs whose digest is a file's."""
    out = []
    for node_id, node in graph.nodes.items():
        if dataset is not None and node.get("kind") == "dataset" and node["dataset"] == dataset:
            out.append(node_id)
        if job is not None and node_id == f"job:{job}":
            out.append(node_id)
        if digest is not None and node.get("kind") == "output" and node["digest"] == digest:
            out.append(node_id)
    return sorted(out)


def gather(evaluate: Any) -> Graph:
    """The whole graph from the ledger's answers; `evaluate(function, *args)` returns the
    contract's decoded JSON answer (a session's `evaluate`, or a stub's query in tests)."""
    import json

    jobs = evaluate("ListJobs") or []
    ids = {d["id"] for d in evaluate("ListDatasets", json.dumps({"include_retired": True})) or []}
    ids |= {item["dataset"] for job in jobs for item in job["inputs"]}
    histories = {d: evaluate("DatasetHistory", d) for d in sorted(ids)}
    return build(histories, jobs, evaluate("CharterHistory") or [])
