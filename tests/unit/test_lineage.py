"""Lineage over a small governed flow run through the contract on the dict-backed stub: the
graph gathered from the ledger's answers equals the one drawn by hand, and the regulator's
report says who approved what, under which charter version, with which fingerprints."""

from __future__ import annotations

import json

import pytest
from contract_helpers import Alliance, dataset_spec, digest, founded

from alliance.lineage import gather, start_nodes
from alliance.lineage_report import markdown, to_html


def _run(a: Alliance, job: dict) -> dict:
    for org in job["participants"]:
        a.ok("ClaimJob", job["id"], by=a.org(org).client)
    for org in job["participants"]:
        job = a.ok("SubmitReceipt", job["id"], a.receipt(job, org), by=a.org(org).client)
    return job


@pytest.fixture(scope="module")
def flow() -> tuple[Alliance, dict, dict]:
    """Job 1 on customers v1 runs to completion; customers gets a version 2; insurer joins
    (charter version 2); job 2 is requested on customers v2 and left unapproved."""
    a = founded()
    job1 = _run(a, a.approved_job())
    v2 = dataset_spec("customers", fingerprint=digest("customers-v2"))
    a.ok("NewDatasetVersion", "customers", v2, by="bank")
    proposal = a.ok("ProposeMember", json.dumps({"action": "join", "org": "insurer",
                                                 "reason": "new partner"}), by="bank")
    a.ok("VoteProposal", proposal["id"], "yes", by="telecom")
    job2 = a.request("telecom", ["bank/customers:amount", "telecom/subscribers:amount"])
    derived = {"job": job1["id"], "run": 1, "output": "result"}
    a.register("bank", "sums", fingerprint=digest("sums-v1"), derived_from=derived)
    return a, job1, job2


def _graph(a: Alliance):  # type: ignore[no-untyped-def]
    regulator = a.org("regulator").admin
    return gather(lambda f, *args: a.stub.query(a.router, f, *args, creator=regulator).json())


def test_the_graph_equals_the_one_drawn_by_hand(flow: tuple[Alliance, dict, dict]) -> None:
    a, job1, job2 = flow
    j1, j2 = job1["id"], job2["id"]
    graph = _graph(a).to_dict()
    edges = {(e["from"], e["to"], e["kind"], e["label"]) for e in graph["edges"]}
    assert edges == {
        ("dataset:bank/customers@1", f"job:{j1}", "input", "amount"),
        ("dataset:telecom/subscribers@1", f"job:{j1}", "input", "amount"),
        ("dataset:bank/customers@2", f"job:{j2}", "input", "amount"),
        ("dataset:telecom/subscribers@1", f"job:{j2}", "input", "amount"),
        (f"job:{j1}", f"receipt:{j1}/1/bank", "receipt", "run 1"),
        (f"job:{j1}", f"receipt:{j1}/1/telecom", "receipt", "run 1"),
        (f"job:{j1}", f"output:{j1}/1/result", "output", "result"),
        (f"receipt:{j1}/1/bank", f"output:{j1}/1/result", "attests", ""),
        (f"receipt:{j1}/1/telecom", f"output:{j1}/1/result", "attests", ""),
        (f"output:{j1}/1/result", "dataset:bank/sums@1", "derived", ""),
    }
    nodes = {n["id"]: n for n in graph["nodes"]}
    assert sorted(nodes) == sorted({e[0] for e in edges} | {e[1] for e in edges}
                                   | {"dataset:platform/users@1"})
    assert nodes["dataset:bank/customers@1"]["fingerprint"] == digest("customers-v1")
    assert nodes["dataset:bank/customers@2"]["fingerprint"] == digest("customers-v2")
    assert nodes[f"job:{j1}"]["charter_version"] == 1
    assert nodes[f"job:{j2}"]["charter_version"] == 2
    assert nodes[f"job:{j1}"]["state"] == "COMPLETED"
    assert nodes[f"job:{j2}"]["state"] == "REQUESTED"
    assert sorted(nodes[f"job:{j1}"]["approvals"]) == ["bank", "telecom"]
    assert nodes[f"job:{j1}"]["approvals"]["telecom"]["by_request"] is True
    output = nodes[f"output:{j1}/1/result"]
    assert (output["digest"], output["recipients"]) == (digest("result:sum=42"),
                                                        ["bank", "telecom"])
    assert nodes[f"receipt:{j1}/1/bank"]["input_fingerprints"] == {
        "bank/customers": digest("customers-v1")}


def test_a_dataset_question_follows_every_version_and_what_came_of_it(
    flow: tuple[Alliance, dict, dict],
) -> None:
    a, job1, job2 = flow
    graph = _graph(a)
    sub = graph.component(start_nodes(graph, dataset="platform/users"))
    assert sorted(sub.nodes) == ["dataset:platform/users@1"]
    sub = graph.component(start_nodes(graph, digest=digest("result:sum=42")))
    assert f"job:{job1['id']}" in sub.nodes and f"job:{job2['id']}" in sub.nodes  # via subscribers


def test_the_report_says_who_approved_what_under_which_charter(
    flow: tuple[Alliance, dict, dict],
) -> None:
    a, job1, _ = flow
    graph = _graph(a)
    text = markdown(graph.component([f"job:{job1['id']}"]), "Lineage")
    assert f"## Job {job1['id']}" in text
    assert "under charter version 1" in text
    assert "- Approval: bank approved at " in text
    assert "Derived dataset: bank/sums version 1 registered from result" in text
    v1 = digest("customers-v1")
    assert f"Input: bank/customers version 1 column amount, fingerprint {v1}" in text
    result = digest("result:sum=42")
    assert f"Output: result of run 1 (COMPLETED) to bank, telecom, digest {result}" in text
    page = to_html(graph, "Lineage <all>")
    assert "<title>Lineage &lt;all&gt;</title>" in page and "Receipt: bank run 1" in page


def test_only_a_recipient_of_a_completed_output_may_derive_a_dataset(
    flow: tuple[Alliance, dict, dict],
) -> None:
    a, job1, job2 = flow
    link = {"job": job1["id"], "run": 1, "output": "result"}
    response = a.refused("RegisterDataset", dataset_spec("copy", derived_from=link),
                         by="platform", error="NotAuthorized")
    assert "only its recipients (bank, telecom)" in response.message
    a.refused("RegisterDataset", dataset_spec("early", derived_from={**link, "job": job2["id"]}),
              by="telecom", error="Conflict")
    a.refused("RegisterDataset", dataset_spec("other", derived_from={**link, "output": "nope"}),
              by="telecom", error="InvalidArgument")
    a.refused("RegisterDataset", dataset_spec("ghost", derived_from={**link, "job": "job-x"}),
              by="telecom", error="NotFound")
