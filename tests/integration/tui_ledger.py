"""A seeded ledger for the TUI's snapshots: a real devnet alliance whose every record is the same
on every run, so a screen renders the same SVG and a layout change shows as a snapshot diff.

The alliance is made by `alliance network init` and filled through the contract, as members'
admins and nodes would fill it; what would differ between runs is pinned while it is made:
- keys: derived from fixed numbers (`ec.derive_private_key`), certificate serials counted,
  certificates signed with deterministic ECDSA (RFC 6979) and dated from `NOW`;
- transactions: the nonce is counted, the timestamp set for each step and ECDSA signatures
  deterministic, so a transaction id (sha256 of nonce and creator), hence a job or proposal id,
  and every block hash are the same on every run; devnet's own clock, nonces and signatures are
  pinned likewise (pinned_devnet).
Certificates are valid from two months before `NOW` for a century (the devnet checks them against
the real clock); bank's client certificate alone expires 20 days after `NOW`, to be flagged.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from google.protobuf import timestamp_pb2
from pinned_devnet import CLOCK_ENV, counted_nonces, deterministic_sign

from alliance.canonical import canonical_json

NOW = 1_796_130_000
"""The pinned "now" of every snapshot (2026-12-01 13:00 UTC)."""
PASSPHRASE = b"tui-snapshot-passphrase"
MEMBERS = ["bank", "platform", "telecom"]
AUDITORS = ["regulator"]
DAY = 86400
CERT_START = datetime.fromtimestamp(NOW - 60 * DAY, UTC)
LONG = timedelta(days=36500)
EXPIRING = datetime.fromtimestamp(NOW + 20 * DAY, UTC) - CERT_START
"""Validity of bank's client certificate: it expires 20 days after `NOW`."""


def digest(n: int) -> str:
    return "sha256:" + hashlib.sha256(f"seed-{n}".encode()).hexdigest()


@contextmanager
def pinned_identities() -> Iterator[None]:
    """`alliance network init` making the same keys and certificates on every run."""
    from alliance import network_init

    numbers = itertools.count(0x5EED_0001)
    serials = itertools.count(1000)
    issue = network_init.CertificateAuthority.issue
    create = network_init.CertificateAuthority.create.__func__  # type: ignore[attr-defined]
    sign = x509.CertificateBuilder.sign

    class PinnedDatetime(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> PinnedDatetime:  # type: ignore[override]
            return cls.fromtimestamp(CERT_START.timestamp() + 300, tz or UTC)

    def pinned_issue(self: Any, public_key: Any, **kw: Any) -> x509.Certificate:
        short = kw.get("common_name", "").lower().startswith("client") and kw.get("org") == "bank"
        kw["validity"] = EXPIRING if short and not kw.get("tls_client") else LONG
        kw["not_before"] = CERT_START
        return issue(self, public_key, **kw)

    def pinned_create(cls: Any, org: str, common_name: str, **kw: Any) -> Any:
        return create(cls, org, common_name, validity=LONG)

    def deterministic_cert(self: Any, key: Any, algorithm: Any, *args: Any, **kw: Any) -> Any:
        return sign(self, key, algorithm, *args, ecdsa_deterministic=True, **kw)

    from alliance.signing import EcdsaSigner

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(EcdsaSigner, "sign", deterministic_sign)
        mp.setattr(network_init, "new_key",
                   lambda: ec.derive_private_key(next(numbers), ec.SECP256R1()))
        mp.setattr(network_init, "datetime", PinnedDatetime)
        mp.setattr(x509, "random_serial_number", lambda: next(serials))
        mp.setattr(x509.CertificateBuilder, "sign", deterministic_cert)
        mp.setattr(network_init.CertificateAuthority, "issue", pinned_issue)
        mp.setattr(network_init.CertificateAuthority, "create", classmethod(pinned_create))
        yield


class PinnedClock:
    """Transactions' timestamps and nonces while the ledger is seeded; devnet reads the same
    moment from `path` (pinned_devnet)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.now = NOW
        self.nonce = counted_nonces()

    def at(self, epoch: int) -> PinnedClock:
        self.now = epoch
        self.path.write_text(str(epoch))
        return self

    def release(self) -> None:
        """Devnet back on the real clock."""
        self.path.unlink(missing_ok=True)

    def timestamp(self) -> timestamp_pb2.Timestamp:
        return timestamp_pb2.Timestamp(seconds=self.now)


@contextmanager
def pinned_transactions(clock: PinnedClock) -> Iterator[None]:
    from alliance.signing import EcdsaSigner
    from network import protoutil

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(protoutil, "now_timestamp", clock.timestamp)
        mp.setattr(protoutil, "new_nonce", clock.nonce)
        mp.setattr(EcdsaSigner, "sign", deterministic_sign)
        yield


class Seeder:
    """Admins' and nodes' transactions, one at a time, each at the clock's moment."""

    def __init__(self, net_dir: Path, clock: PinnedClock) -> None:
        self.net_dir = net_dir
        self.clock = clock
        self._sessions: dict[tuple[str, str], Any] = {}

    def session(self, org: str, user: str = "admin") -> Any:
        from alliance.app.session import open_session

        key = (org, user)
        if key not in self._sessions:
            self._sessions[key] = open_session(self.net_dir, org, user, PASSPHRASE)
        return self._sessions[key]

    def submit(self, at: int, org: str, function: str, *args: Any, user: str = "admin") -> Any:
        self.clock.at(at)
        text = [a if isinstance(a, str) else canonical_json(a).decode() for a in args]
        return self.session(org, user).submit(function, *text)

    def close(self) -> None:
        for s in self._sessions.values():
            s.close()


def _dataset(name: str, columns: list[tuple[str, str]], rows: int, n: int,
             tags: list[str] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "schema": [{"name": c, "type": t} for c, t in columns],
        "row_count": rows,
        "fingerprint": digest(n),
        "description": f"{name}, seeded for the TUI snapshots",
        "tags": tags or [],
    }


def _job(protocol: str, inputs: list[str], params: dict[str, str],
         outputs: dict[str, list[str]]) -> dict[str, Any]:
    return {"protocol": protocol, "inputs": inputs, "parameters": params, "outputs": outputs,
            "expires_in_seconds": 7 * DAY, "max_runs": 1}


def seed(s: Seeder) -> dict[str, str]:
    """The alliance's history, oldest first; the ids of the records the snapshots open."""
    from alliance.founding import load_signed_charter

    status = s.submit(NOW - 30 * DAY, "bank", "InitCharter",
                      load_signed_charter(s.net_dir).to_json().decode())
    for org in status["awaiting"]:
        s.submit(NOW - 30 * DAY + 60, org, "AcceptCharter", status["charter_hash"])

    t = NOW - 20 * DAY
    s.submit(t, "bank", "RegisterDataset", _dataset(
        "customers", [("customer_id", "string"), ("exposure", "integer")], 238_500, 1, ["kyc"]))
    s.submit(t, "platform", "RegisterDataset", _dataset(
        "users", [("customer_id", "string"), ("spend", "decimal")], 220_000, 2))
    s.submit(t, "telecom", "RegisterDataset", _dataset(
        "subscribers", [("customer_id", "string"), ("balance", "integer")], 260_000, 3))
    s.submit(t, "telecom", "RegisterDataset", _dataset("legacy", [("msisdn", "string")], 1000, 4))
    s.submit(NOW - 19 * DAY, "bank", "NewDatasetVersion", "customers", _dataset(
        "customers", [("customer_id", "string"), ("exposure", "integer")], 240_000, 5, ["kyc"]))
    s.submit(NOW - 10 * DAY, "telecom", "RetireDataset", "legacy")

    proposal = s.submit(NOW - 3 * DAY, "telecom", "ProposeMember", {
        "action": "set_roles", "org": "platform", "roles": ["member", "auditor"],
        "reason": "platform audits the alliance too"})

    stats = _job("stats", ["bank/customers:exposure", "telecom/subscribers:balance"],
                 {"op": "sum"}, {"result": ["telecom"]})
    rejected = s.submit(NOW - 2400, "telecom", "RequestJob", stats)
    s.submit(NOW - 2300, "bank", "RejectJob", rejected["id"], "not for marketing")

    psi = _job("psi", ["bank/customers:customer_id", "platform/users:customer_id"],
               {"engine": "auto"}, {"cardinality": ["bank", "platform"], "intersection": ["bank"]})
    failed = s.submit(NOW - 1800, "bank", "RequestJob", psi)
    s.submit(NOW - 1700, "platform", "ApproveJob", failed["id"])
    s.submit(NOW - 1600, "platform", "ClaimJob", failed["id"], user="node")
    s.submit(NOW - 1500, "platform", "FailJob", failed["id"],
             {"code": "fingerprint_mismatch", "input": "platform/users:customer_id"}, user="node")

    completed = s.submit(NOW - 1200, "telecom", "RequestJob", stats)
    s.submit(NOW - 1100, "bank", "ApproveJob", completed["id"])
    for org in ("bank", "telecom"):
        s.submit(NOW - 1000, org, "ClaimJob", completed["id"], user="node")
    own = {"bank": "bank/customers", "telecom": "telecom/subscribers"}
    fingerprints = {"bank/customers": digest(5), "telecom/subscribers": digest(3)}
    result = deliver(s.net_dir, "telecom", completed["id"], 1, {"sum": 128374651})
    for org in ("bank", "telecom"):
        s.submit(NOW - 950, org, "SubmitReceipt", completed["id"], {
            "run": 1,
            "output_digests": {"result": result} if org == "telecom" else {},
            "transcript_digest": digest(8),
            "input_fingerprints": {own[org]: fingerprints[own[org]]},
            "engine_version": "alliance-mpc 0.1",
        }, user="node")

    requested = s.submit(NOW - 600, "telecom", "RequestJob", stats)
    return {"requested": requested["id"], "completed": completed["id"], "failed": failed["id"],
            "rejected": rejected["id"], "proposal": proposal["id"]}


def deliver(net_dir: Path, org: str, job_id: str, run: int, value: Any) -> str:
    """The recipient's node delivering a run's output (as node.outputs does); its digest."""
    from node.outputs import stage_outputs
    from node.paths import outputs_dir

    data = json.dumps(value, sort_keys=True).encode()
    pending = stage_outputs(outputs_dir(net_dir, org), job_id, run, {"result": data},
                            {"protocol": "stats"})
    pending.deliver()
    return pending.manifest["outputs"]["result"]["digest"]


@contextmanager
def seeded_alliance(net_dir: Path) -> Iterator[dict[str, str]]:
    """NET made and seeded (see the module's docstring), its devnet running; the seeded ids."""
    from alliance.network_init import init_network
    from network.connection import record_engine
    from network.devnet.launcher import start_devnet, stop_devnet

    with pinned_identities():
        init_network(net_dir, members=MEMBERS, auditors=AUDITORS, passphrase=PASSPHRASE)
    record_engine(net_dir, "devnet")
    clock = PinnedClock(net_dir / "pinned-clock")
    clock.at(NOW - 31 * DAY)
    here = str(Path(__file__).parent)
    path = os.pathsep.join(p for p in (here, os.environ.get("PYTHONPATH", "")) if p)
    start_devnet(net_dir, batch_timeout_ms=20, router="pinned_devnet:router",
                 env={CLOCK_ENV: str(clock.path), "PYTHONPATH": path})
    seeder = Seeder(net_dir, clock)
    try:
        with pinned_transactions(clock):
            ids = seed(seeder)
        seeder.close()
        clock.release()
        yield ids
    finally:
        stop_devnet(net_dir)
