"""Job chaining by reference: a modelling job names the completed jobs whose outputs it uses.

- `alignment_job` (binning, lr_train, lr_predict, gbdt_train, gbdt_predict): a COMPLETED `psi`
  job whose `intersection` output went to every party of this job, and whose inputs include the
  `ids` columns this job names; each party orders its rows by that intersection.
- `model_job` (lr_predict, scorecard): a COMPLETED `lr_train` job with the same parties, each of
  which received its `model.<org>` part; (gbdt_predict) the same of a COMPLETED `gbdt_train` job.
- `bins_job` (lr_train, lr_predict: WOE features; scorecard; gbdt_train: the bins themselves):
  a COMPLETED `binning` job with the same parties, each of which received its `bins.<org>`
  tables.

The contract checks these links when a job is requested and each node checks them again, from the
ledger, before it runs (node/gate.py). Pure: the caller looks the named jobs up. Each link also
says which reserved local input the node fills from its own delivered copy of which output.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from alliance.models import Job, JobState
from alliance.protocols.spec import JobShape

ALIGNMENT_INPUT = "alignment:intersection"
BINS_INPUT = "woe_bins"
MODEL_INPUT = "model"


@dataclass(frozen=True)
class Link:
    """A parameter naming an earlier job, and what this job takes from it."""

    param: str
    protocols: tuple[str, ...]
    """The protocols the named job may have run."""
    output: str
    """The output each party reads (`<org>`: its own per-owner output)."""
    local_input: str
    """The reserved local input the node fills with that output's bytes."""

    def output_for(self, org: str) -> str:
        return self.output.replace("<org>", org)


ALIGNMENT = Link("alignment_job", ("psi",), "intersection", ALIGNMENT_INPUT)
MODEL = Link("model_job", ("lr_train",), "model.<org>", MODEL_INPUT)
GBDT_MODEL = Link("model_job", ("gbdt_train",), "model.<org>", MODEL_INPUT)
BINS = Link("bins_job", ("binning",), "bins.<org>", BINS_INPUT)

LINKS: dict[str, tuple[Link, ...]] = {
    "binning": (ALIGNMENT,),
    "lr_train": (ALIGNMENT, BINS),
    "lr_predict": (ALIGNMENT, MODEL, BINS),
    "scorecard": (MODEL, BINS),
    "gbdt_train": (ALIGNMENT, BINS),
    "gbdt_predict": (ALIGNMENT, GBDT_MODEL),
}
REQUIRED: dict[str, tuple[str, ...]] = {
    "lr_predict": ("model_job",),
    "scorecard": ("model_job", "bins_job"),
    "gbdt_predict": ("model_job",),
}
"""Links a protocol cannot run without (the others are optional)."""

JobLookup = Callable[[str], Job | None]


def links_of(protocol: str, parameters: Mapping[str, str]) -> list[tuple[Link, str]]:
    """(link, named job id) for each link this job's parameters name."""
    return [(link, parameters[link.param].strip()) for link in LINKS.get(protocol, ())
            if parameters.get(link.param, "").strip()]


def parties(shape: JobShape) -> set[str]:
    """The members whose rows or model parts a modelling job combines: the input owners and the
    owners of per-owner outputs (`name.<org>`)."""
    found = set(shape.owners)
    for name in shape.outputs:
        _, dot, owner = name.partition(".")
        if dot and owner:
            found.add(owner)
    return found


def job_parties(job: Job) -> set[str]:
    shape = JobShape(inputs=(), outputs={n: tuple(o) for n, o in job.outputs.items()},
                     dealer=job.dealer)
    return {i.owner for i in job.inputs} | parties(shape)


def completed_run(job: Job) -> int | None:
    """The last COMPLETED run of `job` (whose outputs the linked job uses), None if none."""
    done = [r.run for r in job.results.values() if r.state == JobState.COMPLETED]
    return max(done) if done else None


def link_problems(protocol: str, parameters: Mapping[str, str], shape: JobShape,
                  lookup: JobLookup) -> list[str]:
    """Every reason the jobs this job names cannot be used (empty: the links hold)."""
    problems: list[str] = []
    named = dict((link.param, job_id) for link, job_id in links_of(protocol, parameters))
    for param in REQUIRED.get(protocol, ()):
        if param not in named:
            problems.append(f"a {protocol} job must name the job it builds on in its {param} "
                            f"parameter (`--param {param}=JOB`)")
    if protocol in LINKS and parameters.get("ids", "").strip() and "alignment_job" not in named:
        problems.append("the ids parameter aligns rows by a PSI intersection: name the completed "
                        "psi job in the alignment_job parameter (`--param alignment_job=JOB`)")
    mine = parties(shape)
    for link, job_id in links_of(protocol, parameters):
        linked = lookup(job_id)
        if linked is None:
            problems.append(f"{link.param} {job_id} is not a job on the ledger "
                            "(`alliance job list` shows the jobs)")
            continue
        problems += _one_link(link, linked, mine, parameters)
    return problems


def _one_link(link: Link, linked: Job, mine: set[str], parameters: Mapping[str, str]
              ) -> list[str]:
    what = f"{link.param} {linked.id}"
    if linked.protocol not in link.protocols:
        return [f"{what} is a {linked.protocol} job, not {' or '.join(link.protocols)}"]
    if linked.state != JobState.COMPLETED or completed_run(linked) is None:
        return [f"{what} is {linked.state}, not COMPLETED; wait for it to complete "
                f"(`alliance job show {linked.id}`)"]
    problems: list[str] = []
    if link is ALIGNMENT:
        got = set(linked.outputs.get("intersection", ()))
        left_out = sorted(mine - got)
        if left_out:
            problems.append(f"{what}'s intersection did not go to {', '.join(left_out)}; every "
                            "party must hold the rows' alignment: run a psi job with "
                            "`--output intersection=` naming all of them")
        ids = [t.strip() for t in parameters.get("ids", "").split(",") if t.strip()]
        psi_inputs = {i.ref for i in linked.inputs}
        stray = [ref for ref in ids if ref not in psi_inputs]
        if stray:
            problems.append(f"the ids {', '.join(stray)} were not inputs of {what}; name the id "
                            "columns the psi job intersected")
        return problems
    theirs = job_parties(linked)
    if theirs != mine:
        problems.append(f"{what} was between {', '.join(sorted(theirs)) or 'nobody'}, this job "
                        f"is between {', '.join(sorted(mine)) or 'nobody'}; the parties must be "
                        "the same")
    missing = sorted(p for p in mine if list(linked.outputs.get(link.output_for(p), ())) != [p])
    if missing:
        problems.append(f"{what} delivered no {link.output} to {', '.join(missing)}")
    return problems
