"""The query server's wiring: which TLS certificates it accepts, remembered for a while."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from alliance.wallet import user_tls
from node.errors import TransportError
from node.query.wiring import node_tls_orgs


def test_an_accepted_tls_certificate_is_refused_once_its_org_s_tls_root_changes(
        network_dir: Path, passphrase: bytes, tmp_path: Path) -> None:
    net = tmp_path / "net"
    shutil.copytree(network_dir, net)
    org_of = node_tls_orgs(net)
    platform = user_tls(net, "platform", "node", passphrase).cert_chain
    assert org_of(platform) == "platform"
    assert org_of(platform) == "platform"  # remembered
    # platform's TLS root replaced (as by `keys renew-ca`): its old certificates chain to nothing
    roots = net / "orgs" / "platform" / "msp" / "tlscacerts"
    [root] = roots.iterdir()
    root.write_bytes((net / "orgs" / "bank" / "msp" / "tlscacerts" / "tlsca.pem").read_bytes())
    os.utime(root, ns=(time.time_ns(), time.time_ns() + 10**9))
    time.sleep(1.1)  # the roots are looked at again at most once a second
    with pytest.raises(TransportError, match="not issued by the TLS CA"):
        org_of(platform)

