"""Throw-away identities and a small harness for unit tests of the governance contract.

Each org gets an in-memory CA and admin / client / peer certificates (NodeOU in the subject's
OU), minted with `cryptography`; no files, no MSP folders.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from alliance.canonical import sha256_digest
from alliance.charter import Charter, msp_id_for
from alliance.founding import sign_charter
from alliance.identity import Identity
from alliance.signing import EcdsaSigner
from chaincode import MemoryStub, Response, default_router

MEMBERS = ("bank", "telecom", "platform")
AUDITORS = ("regulator",)
START = 1_700_000_000


@dataclass(frozen=True)
class Org:
    name: str
    admin: Identity
    client: Identity
    peer: Identity
    extra_admin: Identity
    admin_signer: EcdsaSigner
    """The admin's key: it signs the founding charter."""


def _name(cn: str, org: str, ou: str | None) -> x509.Name:
    parts = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org)]
    if ou:
        parts.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ou))
    parts.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    return x509.Name(parts)


def _cert(subject: x509.Name, issuer: x509.Name, key: ec.EllipticCurvePrivateKey,
          public: ec.EllipticCurvePublicKey, serial: int) -> x509.Certificate:
    start = dt.datetime(2023, 1, 1, tzinfo=dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public)
        .serial_number(serial)
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )


@cache
def org_identities(org: str) -> Org:
    """CA-signed admin, client and peer identities of `org` (cached per test session)."""
    msp_id = msp_id_for(org)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name(f"ca.{org}", org, None)

    def issue(cn: str, ou: str, serial: int) -> tuple[Identity, ec.EllipticCurvePrivateKey]:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _cert(_name(cn, org, ou), ca_name, ca_key, key.public_key(), serial)
        pem = cert.public_bytes(serialization.Encoding.PEM)
        return Identity(msp_id=msp_id, certificate=pem), key

    admin, admin_key = issue(f"Admin@{org}", "admin", 2)
    return Org(
        name=org,
        admin=admin,
        client=issue(f"client@{org}", "client", 3)[0],
        peer=issue(f"peer0.{org}", "peer", 4)[0],
        extra_admin=issue(f"Admin2@{org}", "admin", 5)[0],
        admin_signer=EcdsaSigner(admin_key),
    )


def with_founders(charter: Charter) -> Charter:
    """`charter` naming each org's test admin certificate as its founder."""
    founders = {org: org_identities(org).admin.fingerprint for org in charter.members}
    return Charter.model_validate({**charter.model_dump(), "founders": founders})


def signed_charter(charter: Charter, *, sign: bool = True) -> str:
    """InitCharter's argument: `charter` with its founders named and every one's signature."""
    charter = with_founders(charter)
    signers = {org: (org_identities(org).admin, org_identities(org).admin_signer)
               for org in charter.members}
    return sign_charter(charter, signers).to_json().decode()


def digest(text: str) -> str:
    return sha256_digest(text.encode())


def dataset_spec(name: str, columns: tuple[str, ...] = ("id", "amount"), **overrides: Any) -> str:
    spec: dict[str, Any] = {
        "name": name,
        "schema": [{"name": c, "type": "integer" if c == "amount" else "string"} for c in columns],
        "row_count": 1000,
        "fingerprint": digest(f"{name}-v1"),
        "description": f"the {name} table",
        "tags": ["finance"],
    }
    spec.update(overrides)
    return json.dumps(spec)


def job_request(inputs: list[str], outputs: dict[str, list[str]] | None = None,
                **overrides: Any) -> str:
    body: dict[str, Any] = {
        "protocol": "stats",
        "inputs": inputs,
        "parameters": {"op": "sum"},
        "outputs": outputs or {"result": ["telecom"]},
        "expires_in_seconds": 3600,
        "max_runs": 1,
    }
    body.update(overrides)
    return json.dumps(body)


@dataclass
class Alliance:
    """A MemoryStub ledger with an initialised charter and helpers to act as any org."""

    stub: MemoryStub = field(default_factory=lambda: MemoryStub(start_time=START))
    router: Any = field(default_factory=default_router)

    def org(self, name: str) -> Org:
        return org_identities(name)

    def call(self, function: str, *args: str, by: str | Identity = "bank",
             timestamp: int | None = None, tx_id: str | None = None) -> Response:
        creator = self.org(by).admin if isinstance(by, str) else by
        return self.stub.invoke(self.router, function, *args, creator=creator,
                                timestamp=timestamp, tx_id=tx_id)

    def ok(self, function: str, *args: str, **kw: Any) -> Any:
        response = self.call(function, *args, **kw)
        assert response.status == 200, response.message
        return response.json()

    def refused(self, function: str, *args: str, error: str, **kw: Any) -> Response:
        response = self.call(function, *args, **kw)
        assert response.status != 200, f"{function} should have been refused"
        assert response.error_type == error, response.message
        return response

    def event(self) -> tuple[str, dict[str, Any]]:
        last = self.stub.last_event()
        assert last is not None
        return last.name, json.loads(last.payload)

    # --- scenario builders --------------------------------------------------------------------

    def register(self, org: str, name: str, **overrides: Any) -> dict[str, Any]:
        columns = overrides.pop("columns", ("id", "amount"))
        return self.ok("RegisterDataset", dataset_spec(name, columns, **overrides), by=org)

    def request(self, by: str, inputs: list[str], outputs: dict[str, list[str]] | None = None,
                **overrides: Any) -> dict[str, Any]:
        return self.ok("RequestJob", job_request(inputs, outputs, **overrides), by=by)

    def approved_job(self, **overrides: Any) -> dict[str, Any]:
        """telecom asks for sum over bank/customers:amount and telecom/subscribers:amount, result
        to telecom and bank; bank approves."""
        outputs = overrides.pop("outputs", {"result": ["bank", "telecom"]})
        job = self.request("telecom", ["bank/customers:amount", "telecom/subscribers:amount"],
                           outputs, **overrides)
        return self.ok("ApproveJob", job["id"], by="bank")

    def receipt(self, job: dict[str, Any], org: str, run: int = 1,
                output: str = "sum=42", **overrides: Any) -> str:
        outputs = sorted(n for n, orgs in job["outputs"].items() if org in orgs)
        body: dict[str, Any] = {
            "run": run,
            "output_digests": {name: digest(f"{name}:{output}") for name in outputs},
            "transcript_digest": digest(f"transcript-{org}"),
            "input_fingerprints": {
                i["dataset"]: i["fingerprint"] for i in job["inputs"] if i["owner"] == org
            },
            "engine_version": "alliance-mpc 0.1",
        }
        body.update(overrides)
        return json.dumps(body)


def founded(**charter_overrides: Any) -> Alliance:
    """An alliance of bank, telecom, platform (members) and regulator (auditor), charter on the
    ledger (initialised by bank's admin), customers/subscribers/users datasets registered."""
    alliance = Alliance()
    charter = Charter.founding(list(MEMBERS), list(AUDITORS))
    if charter_overrides:
        charter = Charter.model_validate({**charter.model_dump(), **charter_overrides})
    alliance.ok("InitCharter", signed_charter(charter), by="bank")
    alliance.register("bank", "customers")
    alliance.register("telecom", "subscribers")
    alliance.register("platform", "users", tags=["web"])
    return alliance
