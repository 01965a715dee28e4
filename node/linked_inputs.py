"""The reserved local inputs a modelling job takes from the jobs it names (alliance/protocols/
links.py): this node's own delivered copy of the alignment PSI's `intersection`, of its
`model.<org>` part and of its `bins.<org>` tables, each checked against the digest the ledger
agreed for that run before the protocol sees it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from alliance.canonical import sha256_digest
from alliance.models import Job
from alliance.protocols.links import completed_run, job_parties, links_of
from network.errors import ContractRejected
from node.errors import NodeError
from node.ledger import JobLedger
from node.outputs import read_output


def fetch_linked(ledger: JobLedger, job: Job) -> dict[str, Job]:
    """The jobs `job` names, as the ledger has them now (a job the ledger does not know is left
    out: the gate names it)."""
    found: dict[str, Job] = {}
    for _, job_id in links_of(job.protocol, job.parameters):
        try:
            found[job_id] = ledger.get_job(job_id)
        except ContractRejected:
            continue
    return found


def linked_inputs(outputs_root: Path, org: str, job: Job, linked: dict[str, Job]
                  ) -> dict[str, np.ndarray]:
    """Reserved local input name -> the bytes (uint8) of this org's output of the named job.
    Only the job's parties take them (a dealer or a mere recipient holds no rows or model)."""
    inputs: dict[str, np.ndarray] = {}
    if org not in job_parties(job):
        return inputs
    for link, job_id in links_of(job.protocol, job.parameters):
        named = linked.get(job_id)
        run = None if named is None else completed_run(named)
        if named is None or run is None:
            raise NodeError(f"{link.param} {job_id} has no completed run")
        output = link.output_for(org)
        agreed = named.results[str(run)].output_digests.get(output)
        try:
            data = read_output(outputs_root, job_id, run, output)
        except NodeError as exc:
            raise NodeError(
                f"{org} has no delivered {output} of {link.param} {job_id} run {run} ({exc}); "
                f"it must be in this node's outputs (`alliance job result {job_id}`)"
            ) from exc
        if agreed is not None and sha256_digest(data) != agreed:
            raise NodeError(f"this node's {output} of {job_id} run {run} is not the output the "
                            "ledger recorded; restore it from the run's delivery")
        inputs[link.local_input] = np.frombuffer(data, dtype=np.uint8)
    return inputs
