"""The runner's reserved inputs of a chained modelling job: this node's own delivered outputs of
the jobs it names, checked against the digests the ledger agreed."""

from __future__ import annotations

from pathlib import Path

import pytest
from link_helpers import chain, ledger, predict_body, scorecard_body

from alliance.models import Job
from node.errors import NodeError
from node.linked_inputs import linked_inputs
from node.outputs import stage_outputs


def deliver(root: Path, job: Job, org: str, content: str = "sum=42") -> None:
    """The org's outputs of `job` as its node delivers them (contents matching the receipts)."""
    mine = {name: f"{name}:{content}".encode() for name in job.recipients_of(org)}
    stage_outputs(root, job.id, 1, mine, {"org": org}).deliver()


@pytest.fixture
def jobs() -> dict[str, Job]:
    a = ledger()
    done = {k: Job.model_validate(v) for k, v in chain(a).items()}
    for key, body in (("scorecard", scorecard_body(done["lr_train"].id, done["binning"].id)),
                      ("predict", predict_body(done["psi"].id, done["lr_train"].id))):
        done[key] = Job.model_validate(a.ok("RequestJob", body, by="bank"))
    return done


def linked(jobs: dict[str, Job]) -> dict[str, Job]:
    return {jobs[k].id: jobs[k] for k in ("psi", "binning", "lr_train")}


def test_each_party_gets_its_own_model_part_and_bins(jobs: dict[str, Job], tmp_path: Path
                                                     ) -> None:
    for key in ("binning", "lr_train"):
        deliver(tmp_path, jobs[key], "telecom")
    got = linked_inputs(tmp_path, "telecom", jobs["scorecard"], linked(jobs))
    assert bytes(got["model"]) == b"model.telecom:sum=42"
    assert bytes(got["woe_bins"]) == b"bins.telecom:sum=42"


def test_the_alignment_is_this_party_s_copy_of_the_intersection(jobs: dict[str, Job],
                                                                 tmp_path: Path) -> None:
    for key in ("psi", "lr_train"):
        deliver(tmp_path, jobs[key], "bank")
    got = linked_inputs(tmp_path, "bank", jobs["predict"], linked(jobs))
    assert bytes(got["alignment:intersection"]) == b"intersection:sum=42"


def test_an_output_that_is_not_the_one_the_ledger_recorded_is_refused(
    jobs: dict[str, Job], tmp_path: Path
) -> None:
    deliver(tmp_path, jobs["binning"], "telecom")
    deliver(tmp_path, jobs["lr_train"], "telecom", content="another model")
    with pytest.raises(NodeError, match="not the output the ledger recorded"):
        linked_inputs(tmp_path, "telecom", jobs["scorecard"], linked(jobs))


def test_a_missing_delivery_says_where_to_look(jobs: dict[str, Job], tmp_path: Path) -> None:
    with pytest.raises(NodeError, match=r"has no delivered model\.bank"):
        linked_inputs(tmp_path, "bank", jobs["scorecard"], linked(jobs))


def test_the_dealer_takes_no_linked_input(jobs: dict[str, Job], tmp_path: Path) -> None:
    assert linked_inputs(tmp_path, "platform", jobs["lr_train"], linked(jobs)) == {}
