"""Pure parts of the node: peer checks, TLS-org mapping, event triggers, outputs, audit trail."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from test_node_runner import make_job

from alliance.job_changes import describe_change
from alliance.models import JobState
from network.gateway import ChaincodeEvent
from node.errors import GateRefused, NodeError, TransportError
from node.listener import job_of
from node.outputs import list_outputs, read_output, stage_outputs
from node.peer_auth import PeerAuthorizer, check_peer
from node.peer_orgs import TlsOrgs

FP = "sha256:" + "11" * 32


def _event(name: str, payload: object) -> ChaincodeEvent:
    return ChaincodeEvent(3, "tx", "alliance", name, json.dumps(payload).encode())


def test_only_job_events_naming_the_org_trigger_it() -> None:
    payload = {"job_id": "job-1", "participants": ["bank", "telecom"]}
    assert job_of(_event("JobApproved", payload), "bank") == "job-1"
    assert job_of(_event("JobRunning", payload), "telecom") == "job-1"
    assert job_of(_event("JobApproved", payload), "platform") is None
    assert job_of(_event("JobRequested", payload), "bank") is None
    assert job_of(ChaincodeEvent(3, "tx", "alliance", "JobApproved", b"{not json"), "bank") is None


def test_a_peer_of_a_live_job_is_accepted() -> None:
    check_peer(make_job(FP, FP, state="RUNNING"), "bank")


@pytest.mark.parametrize("state", ["REQUESTED", "REJECTED", "COMPLETED", "FAILED", "REVOKED"])
def test_a_peer_is_refused_for_a_job_that_is_not_live(state: str) -> None:
    with pytest.raises(GateRefused, match=state):
        check_peer(make_job(FP, FP, state=state), "bank")


def test_a_non_participant_peer_is_refused() -> None:
    with pytest.raises(GateRefused, match="platform is not a participant"):
        check_peer(make_job(FP, FP), "platform")


def _self_signed(org: str) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, org)])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=1))
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)


def test_a_node_certificate_maps_to_the_org_whose_tls_ca_issued_it(
    network_dir: Path, passphrase: bytes,
) -> None:
    from alliance.wallet import user_tls

    orgs = TlsOrgs.from_network(network_dir)
    for org in ("bank", "telecom"):
        assert orgs.org_of(user_tls(network_dir, org, "node", passphrase).cert_chain) == org


def test_a_certificate_that_only_claims_an_org_is_refused(network_dir: Path) -> None:
    orgs = TlsOrgs.from_network(network_dir)
    with pytest.raises(TransportError, match="not issued by the TLS CA"):
        orgs.org_of(_self_signed("bank"))


def test_the_authorizer_re_reads_the_job_and_logs_refusals(
    network_dir: Path, passphrase: bytes,
) -> None:
    from alliance.wallet import user_tls

    reads: list[str] = []

    def read(job_id: str):
        reads.append(job_id)
        return make_job(FP, FP, state="REQUESTED")

    auth = PeerAuthorizer("bank", TlsOrgs.from_network(network_dir), read, lambda: [])
    with pytest.raises(GateRefused):
        auth.authorize("job-1", user_tls(network_dir, "telecom", "node", passphrase).cert_chain)
    assert reads == ["job-1"] and "REQUESTED" in auth.refusals[0]


def test_outputs_appear_whole_with_their_manifest(tmp_path: Path) -> None:
    pending = stage_outputs(tmp_path, "job-1", 1, {"result": b'{"value":"3"}'}, {"claim_tx": "c"})
    assert list_outputs(tmp_path) == []  # nothing delivered before the rename
    pending.deliver(receipt_tx="r")
    [manifest] = list_outputs(tmp_path)
    assert manifest["receipt_tx"] == "r" and manifest["outputs"]["result"]["file"] == "result.json"
    assert read_output(tmp_path, "job-1", 1, "result") == b'{"value":"3"}'
    assert [p.name for p in (tmp_path / "job-1").iterdir()] == ["run-1"]


def test_a_discarded_run_leaves_nothing(tmp_path: Path) -> None:
    stage_outputs(tmp_path, "job-1", 1, {"result": b"x"}, {}).discard()
    assert list(tmp_path.rglob("*.*")) == [] and list_outputs(tmp_path) == []


def test_a_tampered_output_does_not_read_back(tmp_path: Path) -> None:
    stage_outputs(tmp_path, "job-1", 1, {"result": b"{}"}, {}).deliver()
    (tmp_path / "job-1" / "run-1" / "result.json").write_bytes(b"[]")
    with pytest.raises(NodeError, match="does not match"):
        read_output(tmp_path, "job-1", 1, "result")


def test_the_trail_names_each_action_and_its_org() -> None:
    v1 = make_job(FP, FP, state="REQUESTED", approvals={}).model_dump(mode="json")
    v2 = dict(v1, approvals={"bank": {"tx_id": "a", "at": 1, "by_request": False}})
    v3 = dict(v2, state=JobState.RUNNING.value, current_run=1,
              claims={"telecom": {"tx_id": "c", "at": 2}})
    assert describe_change(None, v1) == ("RequestJob", "telecom")
    assert describe_change(v1, v2) == ("ApproveJob", "bank")
    assert describe_change(v2, v3) == ("ClaimJob", "telecom")
