"""Building a small devnet ledger file directly through `LedgerStore`, with envelopes that carry
real read-write sets and events, committed the way devnet's commit path does."""

from __future__ import annotations

from pathlib import Path

from network import protoutil as pu
from network.devnet.replay import replay_block
from network.devnet.store import LedgerStore

CHAINCODE = "alliance"
CERT = b"-----BEGIN CERTIFICATE-----\nENDORSER-CERT-" + b"e" * 64 + b"\n-----END CERTIFICATE-----\n"


def envelope(seed: int, writes: dict[str, bytes | None], event: str = "") -> bytes:
    """A signed transaction envelope whose endorsed results write `writes`."""
    creator = pu.serialize_identity("BankMSP", b"client-cert")
    proposal, _ = pu.create_proposal(
        "alliance", CHAINCODE, "Put", [b"k"], creator, nonce=seed.to_bytes(24, "big")
    )
    up = pu.unpack_proposal(pu.sign_proposal(proposal.SerializeToString(), lambda d: b"s"))
    rwset = pu.ReadWriteSet(CHAINCODE, writes=dict(writes))
    events = pu.chaincode_event_bytes(CHAINCODE, up.tx_id, event, b"ev") if event else b""
    prp = pu.proposal_response_payload(
        up.hash(),
        pu.proposal_response_pb2.Response(status=200),
        rwset.to_bytes(),
        events,
        CHAINCODE,
        "1",
    )
    endorsement = pu.endorse(prp, pu.serialize_identity("BankMSP", CERT), lambda d: b"sig")
    env = pu.sign_envelope(pu.prepare_transaction(up, prp, [endorsement]), lambda d: b"s")
    return env.SerializeToString()


class LedgerBuilder:
    """Commit blocks of transactions (each a dict of writes) with given validation codes."""

    def __init__(self, path: Path) -> None:
        self.store = LedgerStore(path)
        genesis = pu.new_block(0, b"", [pu.config_envelope("alliance")], [0])
        self.prev = pu.block_header_hash(genesis.header)
        self.store.commit_block(genesis, self.prev, [], {}, [])
        self.seed = 0

    def block(self, txs: list[dict[str, bytes | None]], codes: list[int] | None = None) -> int:
        envelopes = []
        for writes in txs:
            self.seed += 1
            envelopes.append(envelope(self.seed, writes, event="changed"))
        number = self.store.height()
        block = pu.new_block(number, self.prev, envelopes, codes or [0] * len(txs))
        self.prev = pu.block_header_hash(block.header)
        replayed = replay_block(block)  # exactly what devnet's commit path derives
        self.store.commit_block(block, self.prev, replayed.txs, replayed.updates, replayed.history)
        return number

    def close(self) -> None:
        self.store.close()


def standard_ledger(path: Path) -> Path:
    """Six blocks: datasets written, rewritten, deleted, one invalid transaction."""
    b = LedgerBuilder(path)
    b.block([{"dataset/bank/a": b'{"row_count":1000}'}, {"dataset/bank/b": b'{"row_count":7}'}])
    b.block([{"dataset/bank/a": b'{"row_count":1001}', "job/1": b'{"state":"REQUESTED"}'}])
    b.block([{"job/1": b'{"state":"APPROVED"}'}, {"job/1": b'{"state":"LOST"}'}], [0, 11])
    b.block([{"dataset/bank/b": None}])
    b.block([{"dataset/telecom/c": b'{"row_count":1000}'}])
    b.close()
    return path
