"""The whole authorization of a job, as approvers read it before deciding — and as the wizard's
review shows it before submitting (one renderer, so the two views are the same).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rich.console import Group
from rich.table import Table
from rich.text import Text

from alliance.app.jobs import runs_text
from alliance.models import Job, JobInput
from tui.format import local_time


def authorization_table(
    *,
    protocol: str,
    requester: str,
    parameters: Mapping[str, str],
    inputs: Sequence[JobInput],
    outputs: Mapping[str, Sequence[str]],
    dealer: str | None,
    expires: str,
    max_runs: int,
) -> Group:
    """Protocol and parameters, every input (owner, dataset, column, pinned fingerprint), every
    output with its recipients, dealer, expiry and runs."""
    head = Table.grid(padding=(0, 1))
    head.add_column(style="bold", no_wrap=True)
    head.add_column()
    head.add_row("protocol", protocol)
    head.add_row("requested by", requester)
    head.add_row(
        "parameters",
        ", ".join(f"{k}={v}" for k, v in sorted(parameters.items())) or "(none)",
    )
    head.add_row("dealer", dealer or "(none)")
    head.add_row("expires", expires)
    head.add_row("runs allowed", str(max_runs))

    ins = Table(title="Inputs", title_justify="left", expand=True, show_edge=False)
    for col in ("owner", "dataset", "column", "version", "pinned fingerprint"):
        ins.add_column(col, overflow="fold")
    for i in inputs:
        ins.add_row(i.owner, i.dataset, i.column, str(i.version), i.fingerprint)

    outs = Table(title="Outputs", title_justify="left", expand=True, show_edge=False)
    outs.add_column("output")
    outs.add_column("goes only to", overflow="fold")
    for name, orgs in sorted(outputs.items()):
        outs.add_row(name, ", ".join(orgs))
    return Group(head, Text(""), ins, Text(""), outs)


def job_authorization(job: Job) -> Group:
    return authorization_table(
        protocol=job.protocol,
        requester=job.requester,
        parameters=job.parameters,
        inputs=job.inputs,
        outputs=job.outputs,
        dealer=job.dealer,
        expires=local_time(job.expires_at),
        max_runs=job.max_runs,
    )


def job_status_table(job: Job) -> Group:
    """Where the job stands: approvals, votes, claims, receipts, results, failures."""
    head = Table.grid(padding=(0, 1))
    head.add_column(style="bold", no_wrap=True)
    head.add_column(overflow="fold")
    head.add_row("state", Text(job.state.value, style="bold"))
    head.add_row("requested", local_time(job.created_at))
    head.add_row("last change", f"{local_time(job.updated_at)} in tx {job.updated_tx}")
    head.add_row("runs used", runs_text(job))
    if job.required_approvers:
        head.add_row(
            "approvals",
            ", ".join(
                f"{org} ✓" if org in job.approvals else f"{org} (waiting)"
                for org in job.required_approvers
            ),
        )
    else:
        head.add_row("approvals", "none needed (the requester owns every input)")
    if job.votes_needed:
        yes = sum(1 for v in job.votes.values() if v.vote == "yes")
        head.add_row("member votes", f"{yes} yes of {job.votes_needed} needed")
    if job.rejection:
        head.add_row("rejected by", f"{job.rejection.org}: {job.rejection.reason}")
    if job.revocation:
        head.add_row("revoked by", f"{job.revocation.org}: {job.revocation.reason}")
    if job.claims:
        head.add_row(
            f"claims (run {job.current_run})",
            ", ".join(f"{org} {local_time(c.at)}" for org, c in sorted(job.claims.items())),
        )
    parts: list[object] = [head]
    for org, failure in sorted(job.failures.items()):
        parts.append(Text(f"✗ {org} failed run {failure.run}: {failure.reason}", style="red"))
    for run, result in sorted(job.results.items(), key=lambda kv: int(kv[0])):
        t = Table(title=f"Run {run}: {result.state.value}", title_justify="left", expand=True,
                  show_edge=False)
        t.add_column("party")
        t.add_column("receipt tx", overflow="fold")
        t.add_column("output digests", overflow="fold")
        for org, receipt in sorted(job.receipts.get(run, {}).items()):
            t.add_row(
                org,
                receipt.tx_id,
                "\n".join(f"{k}: {v}" for k, v in sorted(receipt.output_digests.items())) or "—",
            )
        parts.append(Text(""))
        parts.append(t)
        for dispute in result.disputes:
            parts.append(Text(f"disputed: {dispute}", style="red"))
    return Group(*parts)
