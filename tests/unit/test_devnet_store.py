"""The SQLite ledger: one durable transaction per block, the hash chain, and tamper detection."""

from __future__ import annotations

import sqlite3

import pytest

from network import protoutil as pu
from network.devnet.store import LedgerStore, TxRecord
from network.errors import LedgerIntegrityError


def _envelope(tx_id_seed: bytes) -> tuple[bytes, str]:
    creator = pu.serialize_identity("BankMSP", b"cert")
    proposal, tx_id = pu.create_proposal(
        "alliance", "cc", "Put", [b"k"], creator, nonce=tx_id_seed * 24
    )
    up = pu.unpack_proposal(pu.sign_proposal(proposal.SerializeToString(), lambda d: b"s"))
    prp = pu.proposal_response_payload(
        up.hash(), pu.proposal_response_pb2.Response(status=200), b"", b"", "cc", "1"
    )
    env = pu.sign_envelope(pu.prepare_transaction(up, prp, []), lambda d: b"s")
    return env.SerializeToString(), tx_id


def _chain(path, blocks: int = 3) -> LedgerStore:
    store = LedgerStore(path)
    genesis = pu.new_block(0, b"", [pu.config_envelope("alliance")], [0])
    prev = pu.block_header_hash(genesis.header)
    store.commit_block(genesis, prev, [], {}, [])
    for n in range(1, blocks):
        env, tx_id = _envelope(bytes([n]))
        block = pu.new_block(n, prev, [env], [0])
        prev = pu.block_header_hash(block.header)
        store.commit_block(
            block,
            prev,
            [TxRecord(tx_id, 0, 0, 100 + n, ("cc", "Put", b"k"))],
            {"k": (f"v{n}".encode(), (n, 0))},
            [("k", 0, f"v{n}".encode())],
        )
    return store


def test_blocks_state_history_index_and_events(tmp_path) -> None:
    store = _chain(tmp_path / "l.sqlite")
    assert store.height() == 3 and store.verify_chain() == 3
    assert list(store.state_rows()) == [("k", b"v2", 2, 0)]
    assert [h["value"] for h in store.history("k")] == [b"v2", b"v1"]
    assert [e.block_number for e in store.events(0, 10, "cc")] == [1, 2]
    assert store.block(2).header.previous_hash == pu.block_header_hash(store.block(1).header)
    store.close()


def test_reopened_store_keeps_everything(tmp_path) -> None:
    _chain(tmp_path / "l.sqlite").close()
    store = LedgerStore(tmp_path / "l.sqlite")
    assert store.height() == 3 and store.verify_chain() == 3
    store.close()


def test_tampered_block_data_is_detected(tmp_path) -> None:
    store = _chain(tmp_path / "l.sqlite")
    block = store.block(1)
    block.data.data[0] = block.data.data[0] + b"x"
    with sqlite3.connect(tmp_path / "l.sqlite") as conn:
        conn.execute("UPDATE blocks SET block = ? WHERE number = 1", (block.SerializeToString(),))
    with pytest.raises(LedgerIntegrityError, match="data hash"):
        store.verify_chain()
    store.close()


def test_broken_link_is_detected(tmp_path) -> None:
    store = _chain(tmp_path / "l.sqlite")
    with sqlite3.connect(tmp_path / "l.sqlite") as conn:
        conn.execute("UPDATE blocks SET hash = ? WHERE number = 1", (b"\x00" * 32,))
    with pytest.raises(LedgerIntegrityError):
        store.verify_chain()
    store.close()


def test_index_disagreeing_with_block_is_detected(tmp_path) -> None:
    store = _chain(tmp_path / "l.sqlite")
    with sqlite3.connect(tmp_path / "l.sqlite") as conn:
        conn.execute("UPDATE txindex SET code = 11 WHERE block = 2")
    with pytest.raises(LedgerIntegrityError, match=r"block 2: the tx index says .* MVCC_READ"):
        store.verify_chain()
    store.close()
