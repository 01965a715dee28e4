"""The lineage graph as a report a regulator reads: Markdown and HTML (pure).

For each job: who requested it and when, under which charter version, who approved it and
when, which dataset versions (with their fingerprints) went in, which receipts came back, and
which outputs (with digests and recipients) came out.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime
from typing import Any

from alliance.lineage import Graph


def _when(ts: int | None) -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(int(ts), UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def sections(graph: Graph) -> list[tuple[str, list[str]]]:
    """(heading, lines) per job and one for datasets that no job used; plain text lines."""
    out: list[tuple[str, list[str]]] = []
    edges = sorted(graph.edges, key=lambda e: (e.source, e.target, e.kind, e.label))
    used: set[str] = set()
    for node_id in sorted(n for n in graph.nodes if n.startswith("job:")):
        job = graph.nodes[node_id]
        lines = [
            f"Protocol: {job['protocol']} ({_params(job['parameters'])}); state {job['state']}",
            f"Requested by {job['requester']} at {_when(job['requested_at'])} "
            f"(tx {job['tx_id']}), under charter version {job['charter_version']}",
        ]
        for org, a in job["approvals"].items():
            how = "by its request" if a["by_request"] else "approved"
            lines.append(f"Approval: {org} {how} at {_when(a['at'])} (tx {a['tx_id']})")
        for org, vote in job.get("votes", {}).items():
            lines.append(f"Vote: {org} voted {vote}")
        for e in edges:
            if e.target == node_id and e.kind == "input":
                d = graph.nodes[e.source]
                used.add(e.source)
                lines.append(f"Input: {d['dataset']} version {d['version']} column {e.label}, "
                             f"fingerprint {d['fingerprint']}")
        for e in edges:
            if e.source == node_id and e.kind == "receipt":
                r = graph.nodes[e.target]
                lines.append(f"Receipt: {r['org']} run {r['run']} at {_when(r['at'])} "
                             f"(tx {r['tx_id']}), engine {r['engine_version']}, inputs "
                             f"{_params(r['input_fingerprints']) or 'none'}")
        for e in edges:
            if e.source == node_id and e.kind == "output":
                o = graph.nodes[e.target]
                lines.append(f"Output: {o['name']} of run {o['run']} ({o['state']}) to "
                             f"{', '.join(o['recipients'])}, digest {o['digest']}")
                for d in edges:
                    if d.source == e.target and d.kind == "derived":
                        ds = graph.nodes[d.target]
                        lines.append(f"Derived dataset: {ds['dataset']} version {ds['version']} "
                                     f"registered from {o['name']}, fingerprint "
                                     f"{ds['fingerprint']}")
        out.append((f"Job {node_id[4:]}", lines))
    alone = [n for n in sorted(graph.nodes) if n.startswith("dataset:") and n not in used]
    if alone:
        lines = []
        for node_id in alone:
            d = graph.nodes[node_id]
            lines.append(f"{d['dataset']} version {d['version']}, fingerprint {d['fingerprint']}"
                         f", registered {_when(d.get('registered_at'))}")
        out.append(("Datasets used by no job", lines))
    return out


def _params(values: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(values.items()))


def markdown(graph: Graph, title: str) -> str:
    parts = [f"# {title}", ""]
    for heading, lines in sections(graph):
        parts += [f"## {heading}", ""] + [f"- {line}" for line in lines] + [""]
    return "\n".join(parts)


def to_html(graph: Graph, title: str) -> str:
    parts = [
        "<!doctype html>",
        f"<html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    for heading, lines in sections(graph):
        parts.append(f"<h2>{html.escape(heading)}</h2><ul>")
        parts += [f"<li>{html.escape(line)}</li>" for line in lines]
        parts.append("</ul>")
    parts.append("</body></html>")
    return "\n".join(parts)
