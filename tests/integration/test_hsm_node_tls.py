"""The node's MPC link key (node/tls) in a PKCS#11 token (SoftHSM2): `keys rotate node/tls --hsm`
makes it inside the token, the node restarts and both serves and dials TLS with it (gRPC through
OpenSSL's pkcs11 engine), and a job between that node and another completes; without the PIN the
node refuses to start and says which variable to set.

Needs grpcio linked to the system's OpenSSL and libp11's pkcs11 engine (alliance/grpc_openssl.py);
pip's grpcio wheels bundle BoringSSL, so these tests skip, saying how to run them, where that is
not so."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_helpers import run
from node_cluster import PASSPHRASE, approve_all, request, running_alliance

from alliance.cli import main
from alliance.cli.demo.flow import DemoFlow
from alliance.grpc_openssl import token_tls_problem
from alliance.hsm import CONFIG_FILE, TokenKey, key_attributes
from alliance.keystore import PASSPHRASE_ENV

PROBLEM = token_tls_problem()
pytestmark = pytest.mark.skipif(PROBLEM is not None, reason=f"{PROBLEM}")


@pytest.fixture(scope="module")
def alliance(token: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoFlow]:
    with running_alliance(tmp_path_factory.mktemp("hsm-tls") / "net") as flow:
        yield flow


def _tls_dir(flow: DemoFlow, org: str) -> Path:
    return flow.net_dir / "orgs" / org / "users" / "node" / "tls"


@pytest.fixture(scope="module")
def rotated(alliance: DemoFlow, token: str) -> dict:
    """platform's node/tls rotated into the token (grace: the old key stays valid an hour)."""
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(PASSPHRASE_ENV, PASSPHRASE.decode())
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["--json", "--dir", str(alliance.net_dir), "--as", "platform", "keys",
                         "rotate", "node/tls", "--hsm", "--module", token, "--token",
                         "alliance", "--grace", "3600"])
    assert code == 0, err.getvalue()
    return json.loads(out.getvalue())


def test_the_rotated_tls_key_is_inside_the_token_and_not_extractable(
    alliance: DemoFlow, rotated: dict
) -> None:
    tls = _tls_dir(alliance, "platform")
    assert not (tls / "client.key").exists()
    ref = TokenKey.load(tls / CONFIG_FILE)
    assert rotated["key"] == f"pkcs11:token=alliance;object={ref.key_label}"
    assert rotated["node_restarted"] is True
    assert key_attributes(ref) == {"sensitive": True, "extractable": False,
                                   "never_extractable": True, "local": True}


def test_a_job_with_the_node_whose_tls_key_is_in_the_token_completes(
    alliance: DemoFlow, rotated: dict
) -> None:
    inputs = [alliance._input(org) for org in ("bank", "platform")]
    for requester in ("bank", "platform"):  # platform's node dials, then is dialled
        job = approve_all(alliance, request(alliance, requester, inputs, requester, op="count"))
        job = alliance.wait_for(job["id"], ("COMPLETED", "FAILED", "DISPUTED"))
        assert job["state"] == "COMPLETED", job["failures"]


def test_keys_list_shows_the_token_reference_for_node_tls(
    alliance: DemoFlow, rotated: dict, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(PASSPHRASE_ENV, PASSPHRASE.decode())
    _, out, err = run(capsys, "--json", "--dir", str(alliance.net_dir), "--as", "platform",
                       "keys", "list")
    assert out, err
    rows = {r["identity"]: r for r in json.loads(out)["identities"]}
    assert rows["node/tls"]["key"].endswith(f"tls/{CONFIG_FILE}")
    assert rows["node/tls"]["serial"] == rotated["new_serial"]


def test_without_the_pin_the_node_refuses_to_start_and_names_the_variable(
    alliance: DemoFlow, rotated: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    from node.errors import NodeStartError
    from node.launcher import start_node, stop_node

    env = {PASSPHRASE_ENV: PASSPHRASE.decode()}
    assert stop_node(alliance.net_dir, "platform")
    monkeypatch.delenv("ALLIANCE_HSM_PIN")
    try:
        with pytest.raises(NodeStartError, match="ALLIANCE_HSM_PIN"):
            start_node(alliance.net_dir, "platform", env=env)
    finally:
        monkeypatch.undo()
        start_node(alliance.net_dir, "platform", env=env)
