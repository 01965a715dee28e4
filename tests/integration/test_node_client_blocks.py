"""Hyperledger's official Node client (@hyperledger/fabric-gateway) reads devnet's blocks and
filtered blocks (getBlockEvents / getFilteredBlockEvents), and sees what our block reader sees.

The npm packages are installed at test time into a temporary directory (npm's own cache makes
later runs fast); the test is skipped, saying why, where `node` or `npm` is not installed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from alliance.keystore import load_private_key
from alliance.wallet import devnet_tls
from network.deliver import BlockReader
from network.protoutil import block_header_hash

SCRIPT = Path(__file__).parent / "js" / "block_events.js"
PACKAGES = ("@hyperledger/fabric-gateway@1", "@grpc/grpc-js@1")


@pytest.fixture(scope="module")
def node_modules(tmp_path_factory: pytest.TempPathFactory) -> Path:
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        pytest.skip("node and npm are needed to run Hyperledger's Node client (not installed)")
    where = tmp_path_factory.mktemp("npm")
    result = subprocess.run(
        [npm, "install", "--no-audit", "--no-fund", "--ignore-scripts", *PACKAGES],
        cwd=where,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if result.returncode != 0:
        pytest.skip(f"npm could not install {', '.join(PACKAGES)}: {result.stderr[-500:]}")
    return where / "node_modules"


def test_official_node_client_reads_block_and_filtered_block_events(
    devnet, node_modules: Path, tmp_path: Path
) -> None:
    with devnet.gateway("bank", "client") as gw:
        tx = devnet.contract(gw).new_proposal("Put", ["node", "1"]).endorse()
        tx.submit().require_success()
        ours = list(BlockReader(gw, "alliance").blocks("oldest", "newest", wait=False))
        identity = gw.identity
    user = devnet.net_dir / "orgs" / "bank" / "users" / "client" / "msp"
    key = load_private_key(next((user / "keystore").iterdir()), devnet.passphrase)
    key_file, cert_file, root_file = (
        tmp_path / "key.pem",
        tmp_path / "cert.pem",
        tmp_path / "ca.pem",
    )
    key_file.touch(mode=0o600)
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    cert_file.write_bytes(identity.certificate)
    root_file.write_bytes(devnet_tls(devnet.net_dir).root_certs)
    result = subprocess.run(
        [
            "node",
            str(SCRIPT),
            devnet.address,
            str(root_file),
            identity.msp_id,
            str(cert_file),
            str(key_file),
            "alliance",
            str(len(ours)),
        ],
        env={**os.environ, "NODE_PATH": str(node_modules)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert [b["number"] for b in seen["blocks"]] == [b.header.number for b in ours]
    assert [b["txs"] for b in seen["blocks"]] == [len(b.data.data) for b in ours]
    for block, previous in zip(seen["blocks"][1:], ours, strict=False):
        assert bytes.fromhex(block["previousHash"]) == block_header_hash(previous.header)
    assert [b["number"] for b in seen["filtered"]] == [b.header.number for b in ours]
    committed = {txid: code for b in seen["filtered"] for txid, code in b["txs"]}
    assert committed[tx.tx_id] == 0  # VALID
