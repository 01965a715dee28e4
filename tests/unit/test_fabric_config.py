"""Fabric launcher pieces that need no Fabric: binaries check, ports, generated configs."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from alliance.profile import load_profile
from network.fabric import FabricBinariesError
from network.fabric.binaries import resolve_bin_dir
from network.fabric.config import configtx, orderer_config, peer_config
from network.fabric.errors import FabricError
from network.fabric.layout import FabricLayout
from network.fabric.ports import allocate_ports, check_ports_free


def test_unset_bin_dir_says_where_to_get_fabric(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FABRIC_BIN_DIR", raising=False)
    with pytest.raises(FabricBinariesError, match=r"FABRIC_BIN_DIR is not set.*releases"):
        resolve_bin_dir()


def test_missing_binary_is_named(tmp_path: Path) -> None:
    for name in ("peer", "orderer", "configtxgen", "configtxlator"):
        (tmp_path / name).write_text("#!/bin/sh\n")
        (tmp_path / name).chmod(0o755)
    with pytest.raises(FabricBinariesError, match="osnadmin is missing"):
        resolve_bin_dir(tmp_path)


def test_binary_that_is_not_fabric_3_is_refused(tmp_path: Path) -> None:
    for name in ("peer", "orderer", "osnadmin", "configtxgen", "configtxlator"):
        (tmp_path / name).write_text("#!/bin/sh\necho ' Version: 2.5.9'\n")
        (tmp_path / name).chmod(0o755)
    with pytest.raises(FabricBinariesError, match=r"Fabric 2\.5\.9; Fabric 3\.x is needed"):
        resolve_bin_dir(tmp_path)


def test_bin_dir_that_is_not_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FabricBinariesError, match="not a directory"):
        resolve_bin_dir(tmp_path / "nope")


def test_ports_are_distinct_recorded_and_reused(network_dir: Path, tmp_path: Path) -> None:
    profile = load_profile(network_dir)
    orgs = profile.member_orgs()
    layout = FabricLayout(tmp_path)
    ports = allocate_ports(layout, profile, orgs)
    numbers = ports.all()
    assert len(numbers) == len(set(numbers)) == 3 + 4 * len(orgs)
    assert allocate_ports(layout, profile, orgs) == ports
    other = allocate_ports(FabricLayout(tmp_path / "other"), profile, orgs)
    assert FabricLayout(tmp_path / "other").ports_file.exists() and other != ports  # fresh
    assert len(other.all()) == len(set(other.all()))


def test_busy_port_is_reported(network_dir: Path, tmp_path: Path) -> None:
    profile = load_profile(network_dir)
    ports = allocate_ports(FabricLayout(tmp_path), profile, profile.member_orgs())
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", ports.orderer.admin))
        sock.listen()
        with pytest.raises(FabricError, match=str(ports.orderer.admin)):
            check_ports_free(ports)


def test_configs_bind_loopback_with_tls_and_member_majority_endorsement(
    network_dir: Path, tmp_path: Path
) -> None:
    profile = load_profile(network_dir)
    orgs = profile.member_orgs()
    layout = FabricLayout(network_dir)
    ports = allocate_ports(FabricLayout(tmp_path), profile, orgs)
    orderer = orderer_config(layout, profile, ports)
    assert orderer["General"]["ListenAddress"] == "127.0.0.1"
    assert orderer["General"]["TLS"]["Enabled"] and orderer["Admin"]["TLS"]["ClientAuthRequired"]
    assert orderer["General"]["BootstrapMethod"] == "none"
    peer = peer_config(layout, profile, ports, "bank")
    assert peer["peer"]["listenAddress"].startswith("127.0.0.1:")
    assert peer["peer"]["tls"]["enabled"] and peer["vm"]["endpoint"] == ""
    assert peer["chaincode"]["externalBuilders"][0]["path"].endswith("builder")
    channel = configtx(layout, profile, ports, orgs)["Profiles"]["AllianceChannel"]
    assert channel["Capabilities"] == {"V3_0": True}
    # bank, telecom, platform vote; the regulator (auditor) validates but does not endorse
    assert channel["Application"]["Policies"]["Endorsement"] == {
        "Type": "Signature",
        "Rule": "OutOf(2, 'BankMSP.peer', 'PlatformMSP.peer', 'TelecomMSP.peer')",
    }
    assert len(channel["Application"]["Organizations"]) == len(orgs)
    json.dumps(channel)  # written as JSON, which Fabric's YAML loader reads


def test_orgs_outside_the_channel_are_not_started() -> None:
    from network.fabric.launcher import _channel_orgs

    assert _channel_orgs(["a", "b"], {}) == ["a", "b"]
    assert _channel_orgs(["a", "b", "c"], {"channel_orgs": ["a", "b"]}) == ["a", "b"]
