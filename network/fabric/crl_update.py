"""An org's CRL put into its channel MSP (`revocation_list`) by a channel config update, so that
Fabric's peers and orderer themselves refuse the revoked certificates; the same update carries
an org's new roots when it renews its CA (`alliance keys renew-ca`: both roots during the
overlap, the new one alone after it).

Fabric's own procedure, automated with its own tools: fetch the channel's config block as the
org's admin, decode it (`configtxlator`), replace the org's `revocation_list` with the CRL
`alliance keys revoke` wrote (NET/orgs/<org>/msp/crls/), compute the config update, wrap it in
an envelope, have each signing org's admin sign it (`peer channel signconfigtx`), and submit it
(`peer channel update`). The update is signed by a majority of the member orgs' admins, the
org itself among them (its MSP value's mod_policy is the org's Admins).
"""

from __future__ import annotations

import base64
import json
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from alliance.profile import load_profile
from network.fabric.binaries import resolve_bin_dir
from network.fabric.errors import FabricError
from network.fabric.layout import FabricLayout
from network.fabric.peerenv import peer_env


def _run(command: list[str], env: dict[str, str] | None = None, what: str = "") -> str:
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120,
                          check=False)
    if done.returncode != 0:
        raise FabricError(f"{what or command[0]} failed: {done.stderr.strip()[-800:]}")
    return done.stdout


def _decode(bin_dir: Path, path: Path, kind: str) -> Any:
    return json.loads(_run([str(bin_dir / "configtxlator"), "proto_decode", "--input", str(path),
                            "--type", kind], what="configtxlator proto_decode"))


def _encode(bin_dir: Path, data: Any, kind: str, out: Path) -> Path:
    src = out.with_suffix(".json")
    src.write_text(json.dumps(data))
    _run([str(bin_dir / "configtxlator"), "proto_encode", "--input", str(src), "--type", kind,
          "--output", str(out)], what="configtxlator proto_encode")
    return out


def org_crls(net_dir: Path, org: str) -> list[bytes]:
    folder = load_profile(net_dir).org_dir(net_dir, org) / "msp" / "crls"
    return [p.read_bytes() for p in sorted(folder.glob("*.pem"))] if folder.is_dir() else []


def org_roots(net_dir: Path, org: str, folder: str) -> list[bytes]:
    """The PEM roots in NET/orgs/<org>/msp/<folder> (`cacerts` or `tlscacerts`)."""
    path = load_profile(net_dir).org_dir(net_dir, org) / "msp" / folder
    return [p.read_bytes() for p in sorted(path.glob("*.pem"))] if path.is_dir() else []


def _b64(items: list[bytes]) -> list[str]:
    return [base64.b64encode(c).decode() for c in items]


def with_revocation_list(config: dict[str, Any], msp_id: str, crls: list[bytes]) -> dict[str, Any]:
    """A copy of the channel `config` (configtxlator JSON) whose `msp_id` MSP carries `crls`.
    Pure."""
    return with_org_msp(config, msp_id, crls=crls)


def with_org_msp(
    config: dict[str, Any], msp_id: str, *, crls: list[bytes],
    roots: list[bytes] | None = None, tls_roots: list[bytes] | None = None,
) -> dict[str, Any]:
    """A copy of the channel `config` whose `msp_id` MSP carries `crls` and, when given, these
    root and TLS root certificates; with new roots, its NodeOU identifiers name no certifying
    root (any root of the MSP vouches for the OU, as `alliance keys renew-ca` needs during an
    overlap). Pure."""
    out = json.loads(json.dumps(config))
    found = False
    groups = out["channel_group"]["groups"]
    for section in ("Application", "Orderer"):
        for group in groups.get(section, {}).get("groups", {}).values():
            msp = group["values"]["MSP"]["value"]["config"]
            if msp.get("name") != msp_id:
                continue
            found = True
            msp["revocation_list"] = _b64(crls)
            if roots is not None:
                msp["root_certs"] = _b64(roots)
                for ou in (msp.get("fabric_node_ous") or {}).values():
                    if isinstance(ou, dict):
                        ou.pop("certificate", None)
            if tls_roots is not None:
                msp["tls_root_certs"] = _b64(tls_roots)
    if not found:
        raise FabricError(f"the channel's config has no MSP {msp_id}")
    return out


def push_crl(net_dir: Path, org: str, passphrase: bytes, signers: list[str]) -> None:
    """Update the channel so `org`'s MSP carries its current CRLs; signed by `signers`' admins
    (the last one submits)."""
    push_org_msp(net_dir, org, passphrase, signers, roots=False)


def push_org_msp(
    net_dir: Path, org: str, passphrase: bytes, signers: list[str], *, roots: bool = True
) -> None:
    """Update the channel so `org`'s MSP carries its current CRLs and (with `roots`) exactly the
    root and TLS root certificates of NET/orgs/<org>/msp; signed by `signers`' admins (the last
    one submits)."""
    net_dir = Path(net_dir).resolve()
    profile = load_profile(net_dir)
    channel = profile.channel
    msp_id = profile.orgs[org].msp_id
    bin_dir = resolve_bin_dir()
    layout = FabricLayout(net_dir)
    layout.tmp.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="crl-update-", dir=layout.tmp) as tmp_name:
        tmp = Path(tmp_name)
        block = tmp / "config_block.pb"
        with peer_env(net_dir, org, passphrase) as env:
            _run(["peer", "channel", "fetch", "config", str(block), "-c", channel,
                  "-o", env["ORDERER_ADDRESS"], "--tls", "--cafile", env["ORDERER_CA"]],
                 env, "peer channel fetch config")
        config = _decode(bin_dir, block, "common.Block")["data"]["data"][0]["payload"]["data"][
            "config"]
        updated = with_org_msp(
            config, msp_id, crls=org_crls(net_dir, org),
            roots=org_roots(net_dir, org, "cacerts") if roots else None,
            tls_roots=org_roots(net_dir, org, "tlscacerts") if roots else None)
        original = _encode(bin_dir, config, "common.Config", tmp / "original.pb")
        modified = _encode(bin_dir, updated, "common.Config", tmp / "modified.pb")
        update = tmp / "update.pb"
        _run([str(bin_dir / "configtxlator"), "compute_update", "--channel_id", channel,
              "--original", str(original), "--updated", str(modified), "--output", str(update)],
             what="configtxlator compute_update")
        envelope = {
            "payload": {
                "header": {"channel_header": {"channel_id": channel, "type": 2}},
                "data": {"config_update": _decode(bin_dir, update, "common.ConfigUpdate")},
            }
        }
        signed = _encode(bin_dir, envelope, "common.Envelope", tmp / "update_envelope.pb")
        for signer in signers[:-1]:
            with peer_env(net_dir, signer, passphrase) as env:
                _run(["peer", "channel", "signconfigtx", "-f", str(signed)], env,
                     f"peer channel signconfigtx as {signer}'s admin")
        with peer_env(net_dir, signers[-1], passphrase) as env:
            _run(["peer", "channel", "update", "-f", str(signed), "-c", channel,
                  "-o", env["ORDERER_ADDRESS"], "--tls", "--cafile", env["ORDERER_CA"]],
                 env, f"peer channel update as {signers[-1]}'s admin")


def majority_signers(net_dir: Path, org: str) -> list[str]:
    """A strict majority of the voting member orgs, `org` first."""
    profile = load_profile(net_dir)
    members = sorted(o for o in profile.member_orgs() if "member" in profile.orgs[o].roles)
    needed = len(members) // 2 + 1
    order = [org] + [m for m in members if m != org] if org in members else members
    return order[:needed] if org in members else [org, *order[:needed]]
