"""An audit bundle checked offline: the chain of block headers, the job's blocks and
transactions, every signature against the members' CA roots carried in the bundle, the
endorsement policy, the charter and the job record as the blocks wrote them, and optionally a
result file against the digest the job's receipts agreed on.

Standard library and `cryptography` only: a regulator runs it on a machine that has nothing of
Alliance's network, node or contract code and no access to the ledger.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding

from alliance.verify.fabric import Block, Header, Transaction, parse_block, parse_transaction
from alliance.verify.wire import WireError

FORMAT = "alliance-audit-bundle/1"
CHARTER_KEY = "\x00charter\x00"
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def job_key(job_id: str) -> str:
    return f"\x00job\x00{job_id}\x00"


def dataset_key(dataset_id: str) -> str:
    owner, name = dataset_id.split("/", 1)
    return f"\x00dataset\x00{owner}\x00{name}\x00"


def revoked_prefix() -> str:
    return "\x00revoked\x00"


class BundleError(Exception):
    """The bundle cannot be read at all (not JSON, wrong format, missing parts)."""


@dataclass(frozen=True)
class Failure:
    check: str
    detail: str

    def __str__(self) -> str:
        return f"{self.check}: {self.detail}"


@dataclass
class Outcome:
    job_id: str
    height: int = 0
    transactions: list[dict[str, Any]] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    file_check: str = ""

    @property
    def ok(self) -> bool:
        return not self.failures


def load(path: Path) -> dict[str, Any]:
    try:
        bundle = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise BundleError(f"{path} is not a readable JSON bundle: {exc}") from exc
    if not isinstance(bundle, dict) or bundle.get("format") != FORMAT:
        raise BundleError(f"{path} is not an Alliance audit bundle (format {FORMAT})")
    for part in ("job_id", "headers", "blocks", "transactions", "msps", "charter", "job"):
        if part not in bundle:
            raise BundleError(f"{path} has no {part!r}: export it again with "
                              "`alliance audit export --job J`")
    return bundle


def verify(bundle: dict[str, Any], *, file: Path | None = None, output: str = "",
           run: int = 0) -> Outcome:
    out = Outcome(str(bundle["job_id"]))
    fail = out.failures.append
    headers = [Header.from_dict(h) for h in bundle["headers"]]
    out.height = len(headers)
    for i, h in enumerate(headers):
        if h.number != i:
            fail(Failure("header-chain", f"header {i} is numbered {h.number}"))
        elif i and h.previous_hash != headers[i - 1].hash():
            fail(Failure("header-chain", f"block {i} does not link to block {i - 1}"))
    blocks: dict[int, Block] = {}
    for number, raw in bundle["blocks"].items():
        try:
            block = parse_block(base64.b64decode(raw))
        except (WireError, ValueError) as exc:
            fail(Failure("block", f"block {number} cannot be read: {exc}"))
            continue
        n = block.header.number
        if str(n) != str(number) or n >= len(headers) or headers[n] != block.header:
            fail(Failure("block", f"block {number}'s header is not the chain's header {number}"))
        if block.data_hash() != block.header.data_hash:
            fail(Failure("block", f"block {n}'s transactions do not hash to its data hash"))
        blocks[n] = block
    roots = {m: [x509.load_pem_x509_certificate(p.encode()) for p in pems]
             for m, pems in bundle["msps"].items()}
    charter = bundle["charter"]
    voters = sorted(e["msp_id"] for e in charter.get("members", {}).values()
                    if "member" in e.get("roles", []))
    writes: list[tuple[Transaction, str, bytes | None]] = []
    revoked: dict[str, int] = {}
    for entry in bundle["transactions"]:
        tx = _transaction(entry, blocks, fail)
        if tx is None:
            continue
        label = f"block {entry['block']} tx {entry['index']} ({tx.tx_id[:16]})"
        _check_creator(tx, roots, revoked, label, fail)
        _check_endorsements(tx, roots, voters, label, fail)
        for key, value in sorted(tx.writes.items()):
            writes.append((tx, key, value))
            if key.startswith(revoked_prefix()) and value:
                record = _json(value)
                if not isinstance(record, dict):
                    fail(Failure("transaction", f"{label}: its revocation record is not JSON"))
                    continue
                effective = record.get("effective_at") or tx.timestamp  # a rotation's grace
                revoked[str(record.get("fingerprint"))] = int(effective)
        out.transactions.append({
            "block": entry["block"], "index": entry["index"], "tx_id": tx.tx_id,
            "function": tx.function, "signer": f"{tx.msp_id} {_common_name(tx.certificate)}",
            "timestamp": tx.timestamp, "endorsers": sorted({e.msp_id for e in tx.endorsements}),
        })
    _check_record(writes, CHARTER_KEY, charter, "charter", fail)
    job = bundle["job"]
    _check_record(writes, job_key(out.job_id), job, "job", fail)
    listed = {t["tx_id"] for t in out.transactions}
    for tx_id in sorted(_named_tx_ids(job) - listed):
        fail(Failure("job", f"the job record names transaction {tx_id}, which the bundle lacks"))
    for item in job.get("inputs", []):
        _check_input(writes, item, fail)
    if file is not None:
        out.file_check = _check_file(job, file, output, run, fail)
    return out


def _transaction(entry: dict[str, Any], blocks: dict[int, Block], fail: Any) -> Transaction | None:
    block = blocks.get(int(entry["block"]))
    where = f"block {entry['block']} tx {entry['index']}"
    if block is None:
        fail(Failure("transaction", f"{where}: the bundle does not hold block {entry['block']}"))
        return None
    index = int(entry["index"])
    if index >= len(block.data):
        fail(Failure("transaction", f"{where}: block {block.header.number} has no such tx"))
        return None
    try:
        tx = parse_transaction(block.data[index])
    except (WireError, ValueError) as exc:
        fail(Failure("transaction", f"{where} cannot be read: {exc}"))
        return None
    if tx is None or tx.tx_id != entry["tx_id"]:
        fail(Failure("transaction", f"{where} is not transaction {entry['tx_id']}"))
        return None
    codes = block.codes()
    if index >= len(codes) or codes[index] != 0:
        fail(Failure("validation", f"{where} was not committed as VALID"))
    return tx


def _check_cert(msp_id: str, pem: bytes, at: int, roots: dict[str, list[x509.Certificate]]
                ) -> tuple[x509.Certificate | None, str]:
    try:
        cert = x509.load_pem_x509_certificate(pem)
    except ValueError as exc:
        return None, f"the certificate cannot be read: {exc}"
    if not any(_issued_by(cert, root) for root in roots.get(msp_id, [])):
        return None, f"the certificate was not issued by a CA of {msp_id} in the bundle"
    when = datetime.fromtimestamp(at, UTC)
    if not cert.not_valid_before_utc <= when <= cert.not_valid_after_utc:
        return None, f"the certificate was not valid at {when.isoformat()}"
    return cert, ""


def _issued_by(cert: x509.Certificate, root: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(root)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _check_creator(tx: Transaction, roots: dict[str, list[x509.Certificate]],
                   revoked: dict[str, int], label: str, fail: Any) -> None:
    cert, problem = _check_cert(tx.msp_id, tx.certificate, tx.timestamp, roots)
    if cert is None:
        fail(Failure("creator", f"{label}: {problem}"))
        return
    fingerprint = "sha256:" + hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest()
    if fingerprint in revoked and revoked[fingerprint] <= tx.timestamp:
        fail(Failure("creator", f"{label}: signed with a certificate revoked before it"))
    if not _verifies(cert, tx.payload, tx.signature):
        fail(Failure("creator", f"{label}: the creator's signature does not verify"))


def _check_endorsements(tx: Transaction, roots: dict[str, list[x509.Certificate]],
                        voters: list[str], label: str, fail: Any) -> None:
    valid: set[str] = set()
    for i, e in enumerate(tx.endorsements):
        cert, problem = _check_cert(e.msp_id, e.certificate, tx.timestamp, roots)
        if cert is None:
            fail(Failure("endorsement", f"{label} endorsement {i}: {problem}"))
        elif not _verifies(cert, tx.prp + e.endorser, e.signature):
            fail(Failure("endorsement", f"{label} endorsement {i} ({e.msp_id}) does not verify"))
        else:
            valid.add(e.msp_id)
    needed = len(voters) // 2 + 1
    if len(valid & set(voters)) < needed:
        fail(Failure("policy", f"{label}: {len(valid & set(voters))} valid endorsement(s) of "
                               f"voting members; the policy needs {needed} of {len(voters)}"))


def _json(value: bytes) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return None


def _named_tx_ids(record: Any) -> set[str]:
    """Every transaction id a record names (`tx_id`, `created_tx`, `updated_tx`, nested)."""
    found: set[str] = set()
    if isinstance(record, dict):
        for key, value in record.items():
            if key in ("tx_id", "created_tx", "updated_tx") and isinstance(value, str):
                found.add(value)
            else:
                found |= _named_tx_ids(value)
    elif isinstance(record, list):
        for value in record:
            found |= _named_tx_ids(value)
    return found


def _last_write(writes: list[tuple[Transaction, str, bytes | None]], key: str) -> bytes | None:
    found = None
    for _, k, value in writes:
        if k == key:
            found = value
    return found


def _check_record(writes: list[tuple[Transaction, str, bytes | None]], key: str,
                  claimed: Any, what: str, fail: Any) -> None:
    value = _last_write(writes, key)
    if value is None:
        fail(Failure(what, f"no transaction in the bundle writes the {what}"))
    elif _json(value) != claimed:
        fail(Failure(what, f"the {what} in the bundle is not the one the blocks wrote last"))


def _check_input(writes: list[tuple[Transaction, str, bytes | None]], item: dict[str, Any],
                 fail: Any) -> None:
    key = dataset_key(item["dataset"])
    for _, k, value in writes:
        if k == key and value:
            record = _json(value)
            if not isinstance(record, dict):
                fail(Failure("input", f"{item['ref']}: the dataset record is not JSON"))
                return
            if record.get("version") == item["version"]:
                if record.get("fingerprint") != item["fingerprint"]:
                    fail(Failure("input", f"{item['ref']}: the job pins fingerprint "
                                          f"{item['fingerprint']}, version {item['version']} "
                                          f"was registered as {record.get('fingerprint')}"))
                return
    fail(Failure("input", f"{item['ref']}: no transaction in the bundle registers version "
                          f"{item['version']} of {item['dataset']}"))


def _check_file(job: dict[str, Any], file: Path, output: str, run: int, fail: Any) -> str:
    run = run or int(job.get("current_run") or 0)
    result = job.get("results", {}).get(str(run))
    recorded = (result or {}).get("output_digests", {}).get(output)
    if recorded is None:
        fail(Failure("file", f"run {run} of the job records no output {output!r}"))
        return ""
    actual = "sha256:" + hashlib.sha256(Path(file).read_bytes()).hexdigest()
    if actual != recorded:
        fail(Failure("file", f"{file} is {actual}, the job recorded {recorded} for {output}"))
    return actual


def _verifies(cert: x509.Certificate, message: bytes, signature: bytes) -> bool:
    key = cert.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or not signature:
        return False
    try:
        _, s = decode_dss_signature(signature)
        if s > _P256_ORDER // 2:
            return False  # Fabric accepts low-S signatures only
        key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        return False
    return True


def _common_name(pem: bytes) -> str:
    try:
        cert = x509.load_pem_x509_certificate(pem)
        names = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
        return str(names[0].value) if names else ""
    except ValueError:
        return ""
