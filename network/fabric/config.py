"""The Fabric configuration files for NET, generated from the profile and the MSPs.

Each file is written as JSON, which is YAML too (Fabric reads it with its YAML loader), so no
YAML library is needed and nothing is templated by string substitution. Only what a loopback
network with TLS everywhere needs is set; every path is absolute, every address 127.0.0.1:

- `orderer.yaml`: etcdraft, no system channel (channel participation API on the admin port),
  ledger, WAL and snapshots under run/fabric/orderer;
- `core.yaml` per peer: its own MSP and TLS, gateway on, gossip with itself as org leader and an
  external endpoint (so other orgs' gateways find it for endorsements), no Docker, our CCaaS
  external builder, prometheus metrics on the operations port (the launcher waits for gossip);
- `configtx.yaml`: one profile, the application channel: orgs with their MSPs, anchor peers and
  policies, V3_0 channel capabilities, an endorsement policy naming the voting members' peers
  (see `endorsement_rule`), a 100 ms Raft tick and a 100 ms batch timeout.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from alliance.profile import ORDERER_ORG, Profile
from network.fabric.layout import FabricLayout
from network.fabric.ports import FabricPorts

HOST = "127.0.0.1"
# Measured with bench/ledger.py --engine fabric (3 orgs, 2 endorsements per transaction, a
# loaded 2-core machine): 100 ms instead of 250 ms took 32 clients in flight from 88 to 141 tx/s
# (p50 362 -> 223 ms: at low load latency is mostly the wait for the block to be cut) and 128
# from 170 to 188; at 256 the two are equal within the noise (164-217 tx/s either way), with the
# same CPU per transaction. Under load blocks still fill up to MaxMessageCount; an idle channel
# costs nothing (the timer starts with a block's first transaction).
BATCH_TIMEOUT = "100ms"
MAX_MESSAGE = 104857600
CHANNEL_PROFILE = "AllianceChannel"
BUILDER_NAME = "alliance-ccaas"


def write_config(path: Path, data: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path


def _tls_files(tls_dir: Path) -> tuple[str, str, str]:
    return str(tls_dir / "server.crt"), str(tls_dir / "server.key"), str(tls_dir / "ca.crt")


def tls_roots(layout: FabricLayout, orgs: list[str]) -> list[str]:
    """Every org's TLS CA (the orderer's included): what a client of the whole network trusts."""
    return [str(layout.org_msp(o) / "tlscacerts" / "tlsca.pem") for o in [*orgs, ORDERER_ORG]]


# --- orderer.yaml -------------------------------------------------------------------------------


def orderer_config(layout: FabricLayout, profile: Profile, ports: FabricPorts) -> dict[str, Any]:
    cert, key, ca = _tls_files(layout.orderer_tls)
    data_dir = layout.orderer_dir / "data"
    return {
        "General": {
            "ListenAddress": HOST,
            "ListenPort": ports.orderer.listen,
            "TLS": {
                "Enabled": True,
                "PrivateKey": key,
                "Certificate": cert,
                "RootCAs": [ca],
                "ClientAuthRequired": False,
            },
            "Keepalive": {
                "ServerMinInterval": "60s",
                "ServerInterval": "7200s",
                "ServerTimeout": "20s",
            },
            "Backoff": {"BaseDelay": "1s", "Multiplier": 1.6, "MaxDelay": "2m"},
            "MaxRecvMsgSize": MAX_MESSAGE,
            "MaxSendMsgSize": MAX_MESSAGE,
            "Throttling": {"Rate": 0, "InactivityTimeout": "5s"},
            "Cluster": {
                "SendBufferSize": 100,
                "ClientCertificate": cert,
                "ClientPrivateKey": key,
                "RootCAs": [ca],
            },
            "BootstrapMethod": "none",
            "LocalMSPDir": str(layout.orderer_msp),
            "LocalMSPID": profile.orgs[ORDERER_ORG].msp_id,
            "BCCSP": {"Default": "SW", "SW": {"Hash": "SHA2", "Security": 256}},
            "Authentication": {"TimeWindow": "15m"},
        },
        "FileLedger": {"Location": str(data_dir / "ledger")},
        "Operations": {
            "ListenAddress": f"{HOST}:{ports.orderer.operations}",
            "TLS": {"Enabled": False},
        },
        "Metrics": {"Provider": "prometheus"},
        "Admin": {
            "ListenAddress": f"{HOST}:{ports.orderer.admin}",
            "TLS": {
                "Enabled": True,
                "Certificate": cert,
                "PrivateKey": key,
                "ClientAuthRequired": True,
                "ClientRootCAs": [ca],
            },
        },
        "ChannelParticipation": {"Enabled": True, "MaxRequestBodySize": "1 MB"},
        "Consensus": {"WALDir": str(data_dir / "wal"), "SnapDir": str(data_dir / "snapshot")},
    }


# --- core.yaml ----------------------------------------------------------------------------------


def peer_config(
    layout: FabricLayout, profile: Profile, ports: FabricPorts, org: str
) -> dict[str, Any]:
    mine = ports.peers[org]
    cert, key, ca = _tls_files(layout.peer_tls(org))
    address = f"{HOST}:{mine.listen}"
    data_dir = layout.peer_dir(org) / "data"
    return {
        "peer": {
            "id": f"peer0.{org}",
            "networkId": profile.name,
            "listenAddress": address,
            "address": address,
            "chaincodeListenAddress": f"{HOST}:{mine.chaincode_listen}",
            "chaincodeAddress": f"{HOST}:{mine.chaincode_listen}",
            "addressAutoDetect": False,
            "gateway": {
                "enabled": True,
                "endorsementTimeout": "30s",
                "broadcastTimeout": "30s",
                "dialTimeout": "2m",
            },
            "keepalive": {
                "interval": "7200s",
                "timeout": "20s",
                "minInterval": "60s",
                "client": {"interval": "60s", "timeout": "20s"},
                "deliveryClient": {"interval": "60s", "timeout": "20s"},
            },
            "gossip": {
                "bootstrap": address,
                "useLeaderElection": False,
                "orgLeader": True,
                "membershipTrackerInterval": "1s",
                "endpoint": address,
                "externalEndpoint": address,
                "maxBlockCountToStore": 10,
                "maxPropagationBurstLatency": "10ms",
                "maxPropagationBurstSize": 10,
                "propagateIterations": 1,
                "propagatePeerNum": 3,
                "pullInterval": "4s",
                "pullPeerNum": 3,
                "requestStateInfoInterval": "1s",
                "publishStateInfoInterval": "1s",
                "publishCertPeriod": "10s",
                "skipBlockVerification": False,
                "dialTimeout": "3s",
                "connTimeout": "2s",
                "recvBuffSize": 20,
                "sendBuffSize": 200,
                "digestWaitTime": "1s",
                "requestWaitTime": "1500ms",
                "responseWaitTime": "2s",
                "aliveTimeInterval": "1s",
                "aliveExpirationTimeout": "25s",
                "reconnectInterval": "500ms",
                "maxConnectionAttempts": 120,
                "msgExpirationFactor": 20,
                "election": {
                    "startupGracePeriod": "15s",
                    "membershipSampleInterval": "1s",
                    "leaderAliveThreshold": "10s",
                    "leaderElectionDuration": "5s",
                },
                "pvtData": {
                    "pullRetryThreshold": "60s",
                    "transientstoreMaxBlockRetention": 20000,
                    "pushAckTimeout": "3s",
                    "btlPullMargin": 10,
                    "reconcileBatchSize": 10,
                    "reconcileSleepInterval": "1m",
                    "reconciliationEnabled": True,
                    "skipPullingInvalidTransactionsDuringCommit": False,
                    "implicitCollectionDisseminationPolicy": {
                        "requiredPeerCount": 0,
                        "maxPeerCount": 1,
                    },
                },
                "state": {
                    "enabled": False,
                    "checkInterval": "10s",
                    "responseTimeout": "3s",
                    "batchSize": 10,
                    "blockBufferSize": 20,
                    "maxRetries": 3,
                },
            },
            "tls": {
                "enabled": True,
                "clientAuthRequired": False,
                "cert": {"file": cert},
                "key": {"file": key},
                "rootcert": {"file": ca},
                "clientRootCAs": {"files": [ca]},
                "clientCert": {"file": cert},
                "clientKey": {"file": key},
            },
            "authentication": {"timewindow": "15m"},
            "fileSystemPath": str(data_dir),
            "BCCSP": {"Default": "SW", "SW": {"Hash": "SHA2", "Security": 256}},
            "mspConfigPath": str(layout.peer_msp(org)),
            "localMspId": profile.orgs[org].msp_id,
            "localMspType": "bccsp",
            "client": {"connTimeout": "3s"},
            "deliveryclient": {
                "blockGossipEnabled": False,
                "reconnectTotalTimeThreshold": "3600s",
                "connTimeout": "3s",
                "reConnectBackoffThreshold": "3600s",
                "blockCensorshipTimeoutKey": "30s",
                "minimalReconnectInterval": "100ms",
                "policy": "cluster",
            },
            "profile": {"enabled": False},
            "handlers": {
                "authFilters": [
                    {"name": "DefaultAuth"},
                    {"name": "ExpirationCheck"},
                    {"name": "TimeWindowCheck"},
                ],
                "decorators": [{"name": "DefaultDecorator"}],
                "endorsers": {"escc": {"name": "DefaultEndorsement"}},
                "validators": {"vscc": {"name": "DefaultValidation"}},
            },
            "discovery": {
                "enabled": True,
                "authCacheEnabled": True,
                "authCacheMaxSize": 1000,
                "authCachePurgeRetentionRatio": 0.75,
                "orgMembersAllowedAccess": False,
            },
            "limits": {
                "concurrency": {
                    "endorserService": 2500,
                    "deliverService": 2500,
                    "gatewayService": 500,
                }
            },
            "maxRecvMsgSize": MAX_MESSAGE,
            "maxSendMsgSize": MAX_MESSAGE,
        },
        "vm": {"endpoint": ""},
        "chaincode": {
            "externalBuilders": [
                {"name": BUILDER_NAME, "path": str(layout.builder_dir), "propagateEnvironment": []}
            ],
            "installTimeout": "60s",
            "startuptimeout": "60s",
            "executetimeout": "30s",
            "mode": "net",
            "keepalive": 0,
            "system": {
                "_lifecycle": "enable",
                "cscc": "enable",
                "lscc": "enable",
                "qscc": "enable",
            },
            "logging": {"level": "info", "shim": "warning"},
            "runtimeParams": {
                "useWriteBatch": False,
                "maxSizeWriteBatch": 1000,
                "useGetMultipleKeys": False,
                "maxSizeGetMultipleKeys": 1000,
            },
        },
        "ledger": {
            "state": {"stateDatabase": "goleveldb", "totalQueryLimit": 100000},
            "history": {"enableHistoryDatabase": True},
            "pvtdataStore": {
                "collElgProcMaxDbBatchSize": 5000,
                "collElgProcDbBatchesInterval": 1000,
                "deprioritizedDataReconcilerInterval": "60m",
                "purgeInterval": 100,
                "purgedKeyAuditLogging": True,
            },
            "snapshots": {"rootDir": str(data_dir / "snapshots")},
        },
        "operations": {"listenAddress": f"{HOST}:{mine.operations}", "tls": {"enabled": False}},
        "metrics": {"provider": "prometheus"},
    }


# --- configtx.yaml ------------------------------------------------------------------------------


def _signature(rule: str) -> dict[str, str]:
    return {"Type": "Signature", "Rule": rule}


def _implicit(rule: str) -> dict[str, str]:
    return {"Type": "ImplicitMeta", "Rule": rule}


def _org_section(
    layout: FabricLayout, profile: Profile, ports: FabricPorts, org: str
) -> dict[str, Any]:
    msp_id = profile.orgs[org].msp_id
    section: dict[str, Any] = {
        "Name": msp_id,
        "ID": msp_id,
        "MSPDir": str(layout.org_msp(org)),
    }
    if org == ORDERER_ORG:
        section["Policies"] = {
            "Readers": _signature(f"OR('{msp_id}.member')"),
            "Writers": _signature(f"OR('{msp_id}.member')"),
            "Admins": _signature(f"OR('{msp_id}.admin')"),
        }
        section["OrdererEndpoints"] = [f"{HOST}:{ports.orderer.listen}"]
    else:
        section["Policies"] = {
            "Readers": _signature(f"OR('{msp_id}.admin', '{msp_id}.peer', '{msp_id}.client')"),
            "Writers": _signature(f"OR('{msp_id}.admin', '{msp_id}.client')"),
            "Admins": _signature(f"OR('{msp_id}.admin')"),
            "Endorsement": _signature(f"OR('{msp_id}.peer')"),
        }
        section["AnchorPeers"] = [{"Host": HOST, "Port": ports.peers[org].listen}]
    return section


def endorsement_rule(profile: Profile, orgs: list[str]) -> str:
    """`OutOf(k, ...)` over the peers of the channel's voting members, k a strict majority.

    Auditors' peers hold and validate the ledger but do not endorse: an auditor only reads, so
    it should neither be needed for nor able to help a write. One signature policy is also ~25%
    cheaper for every validating peer than `ImplicitMeta MAJORITY Endorsement`, which re-checks
    the whole signature set once per org (bench/README.md). A member's join already needs a
    channel config update; that update rewrites this rule too (network/fabric/README.md)."""
    voters = [o for o in orgs if "member" in profile.orgs[o].roles] or list(orgs)
    peers = ", ".join(f"'{profile.orgs[o].msp_id}.peer'" for o in voters)
    return f"OutOf({len(voters) // 2 + 1}, {peers})"


def configtx(
    layout: FabricLayout, profile: Profile, ports: FabricPorts, orgs: list[str]
) -> dict[str, Any]:
    """configtx.yaml with one profile (`CHANNEL_PROFILE`) for the application channel."""
    orderer_tls = str(layout.orderer_tls / "server.crt")
    readers_writers_admins = {
        "Readers": _implicit("ANY Readers"),
        "Writers": _implicit("ANY Writers"),
        "Admins": _implicit("MAJORITY Admins"),
    }
    channel_profile = {
        "Policies": readers_writers_admins,
        "Capabilities": {"V3_0": True},
        "Orderer": {
            "OrdererType": "etcdraft",
            "BatchTimeout": BATCH_TIMEOUT,
            "BatchSize": {
                "MaxMessageCount": 500,
                "AbsoluteMaxBytes": "10 MB",
                "PreferredMaxBytes": "2 MB",
            },
            "EtcdRaft": {
                "Consenters": [
                    {
                        "Host": HOST,
                        "Port": ports.orderer.listen,
                        "ClientTLSCert": orderer_tls,
                        "ServerTLSCert": orderer_tls,
                    }
                ],
                "Options": {
                    "TickInterval": "100ms",
                    "ElectionTick": 10,
                    "HeartbeatTick": 1,
                    "MaxInflightBlocks": 5,
                    "SnapshotIntervalSize": "16 MB",
                },
            },
            "Organizations": [_org_section(layout, profile, ports, ORDERER_ORG)],
            "Policies": {
                **readers_writers_admins,
                "BlockValidation": _implicit("ANY Writers"),
            },
            "Capabilities": {"V2_0": True},
        },
        "Application": {
            "Organizations": [_org_section(layout, profile, ports, o) for o in orgs],
            "Policies": {
                **readers_writers_admins,
                "LifecycleEndorsement": _implicit("MAJORITY Endorsement"),
                "Endorsement": _signature(endorsement_rule(profile, orgs)),
            },
            "Capabilities": {"V2_5": True},
            "ACLs": {},
        },
    }
    return {"Profiles": {CHANNEL_PROFILE: channel_profile}}


def write_all(layout: FabricLayout, profile: Profile, ports: FabricPorts, orgs: list[str]) -> None:
    """Write orderer.yaml, every peer's core.yaml and configtx.yaml for NET."""
    write_config(layout.orderer_dir / "orderer.yaml", orderer_config(layout, profile, ports))
    for org in orgs:
        write_config(layout.peer_dir(org) / "core.yaml", peer_config(layout, profile, ports, org))
    write_config(layout.channel_dir / "configtx.yaml", configtx(layout, profile, ports, orgs))
