"""Fabric's blocks and endorser transactions taken apart with `wire` (field numbers from
fabric-protos: common.proto, transaction.proto, proposal*.proto, kv_rwset.proto)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from alliance.verify.wire import WireError, fields, get_all, get_bytes, get_int

ENDORSER_TRANSACTION = 3
TRANSACTIONS_FILTER = 2
SIGNATURES = 0


@dataclass(frozen=True)
class Header:
    number: int
    previous_hash: bytes
    data_hash: bytes

    def der(self) -> bytes:
        """`protoutil.BlockHeaderBytes`: ASN.1 DER SEQUENCE { number, previous_hash, data_hash }."""
        body = _der_integer(self.number) + _der(0x04, self.previous_hash)
        return _der(0x30, body + _der(0x04, self.data_hash))

    def hash(self) -> bytes:
        return hashlib.sha256(self.der()).digest()

    def to_dict(self) -> dict[str, object]:
        return {
            "number": self.number,
            "previous_hash": self.previous_hash.hex(),
            "data_hash": self.data_hash.hex(),
        }

    @classmethod
    def from_dict(cls, d: dict[str, object]) -> Header:
        return cls(int(str(d["number"])), bytes.fromhex(str(d["previous_hash"])),
                   bytes.fromhex(str(d["data_hash"])))


@dataclass(frozen=True)
class Block:
    header: Header
    data: list[bytes]
    metadata: list[bytes]

    def codes(self) -> bytes:
        return self.metadata[TRANSACTIONS_FILTER] if len(self.metadata) > 2 else b""

    def data_hash(self) -> bytes:
        return hashlib.sha256(b"".join(self.data)).digest()


@dataclass(frozen=True)
class Endorsement:
    msp_id: str
    certificate: bytes
    endorser: bytes
    signature: bytes


@dataclass
class Transaction:
    tx_id: str
    timestamp: int
    msp_id: str
    certificate: bytes
    payload: bytes
    signature: bytes
    chaincode: str = ""
    function: str = ""
    args: list[bytes] = field(default_factory=list)
    prp: bytes = b""
    endorsements: list[Endorsement] = field(default_factory=list)
    writes: dict[str, bytes | None] = field(default_factory=dict)
    """The governance chaincode's writes (None: a delete)."""


def parse_block(raw: bytes) -> Block:
    msg = fields(raw)
    h = fields(get_bytes(msg, 1))
    header = Header(get_int(h, 1), get_bytes(h, 2), get_bytes(h, 3))
    return Block(header, get_all(fields(get_bytes(msg, 2)), 1),
                 get_all(fields(get_bytes(msg, 3)), 1))


def _identity(serialized: bytes) -> tuple[str, bytes]:
    sid = fields(serialized)
    return get_bytes(sid, 1).decode(), get_bytes(sid, 2)


def parse_transaction(envelope: bytes) -> Transaction | None:
    """An endorser transaction's parts; None for other kinds (config)."""
    env = fields(envelope)
    payload_bytes = get_bytes(env, 1)
    payload = fields(payload_bytes)
    header = fields(get_bytes(payload, 1))
    chdr = fields(get_bytes(header, 1))
    if get_int(chdr, 1) != ENDORSER_TRANSACTION:
        return None
    shdr = fields(get_bytes(header, 2))
    msp_id, cert = _identity(get_bytes(shdr, 1))
    tx = Transaction(
        tx_id=get_bytes(chdr, 5).decode(),
        timestamp=get_int(fields(get_bytes(chdr, 3)), 1),
        msp_id=msp_id,
        certificate=cert,
        payload=payload_bytes,
        signature=get_bytes(env, 2),
    )
    actions = get_all(fields(get_bytes(payload, 2)), 1)
    if len(actions) != 1:
        raise WireError(f"a transaction must hold exactly one action, not {len(actions)}")
    cap = fields(get_bytes(fields(actions[0]), 2))
    cpp = fields(get_bytes(cap, 1))
    spec = fields(get_bytes(fields(get_bytes(cpp, 1)), 1))
    args = get_all(fields(get_bytes(spec, 3)), 1)
    tx.function = args[0].decode() if args else ""
    tx.args = args[1:]
    endorsed = fields(get_bytes(cap, 2))
    tx.prp = get_bytes(endorsed, 1)
    for raw in get_all(endorsed, 2):
        e = fields(raw)
        endorser = get_bytes(e, 1)
        e_msp, e_cert = _identity(endorser)
        tx.endorsements.append(Endorsement(e_msp, e_cert, endorser, get_bytes(e, 2)))
    action = fields(get_bytes(fields(tx.prp), 2))
    tx.chaincode = get_bytes(fields(get_bytes(action, 4)), 2).decode()  # ChaincodeID.name
    for ns in get_all(fields(get_bytes(action, 1)), 2):
        ns_msg = fields(ns)
        if get_bytes(ns_msg, 1).decode() != tx.chaincode:
            continue
        for w in get_all(fields(get_bytes(ns_msg, 2)), 3):
            kv = fields(w)
            key = get_bytes(kv, 1).decode()
            tx.writes[key] = None if get_int(kv, 2) else get_bytes(kv, 3)
    return tx


def _der_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _der(tag: int, body: bytes) -> bytes:
    return bytes([tag]) + _der_length(len(body)) + body


def _der_integer(n: int) -> bytes:
    return _der(0x02, n.to_bytes(max(1, (n.bit_length() + 8) // 8), "big"))
