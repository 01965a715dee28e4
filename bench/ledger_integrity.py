"""How long devnet's ledger checks take, by ledger size, on synthetic ledgers of N transactions:
the full check (every block's hashes and state commitment re-derived from its rows, the world
state against the history: a first start, and `alliance audit chain`), a restart's check from
its checkpoint (block bytes, hashes and metadata of every block, the whole world state; rows
re-derived only for blocks after the checkpoint — none here), the audit's replay of every
block's transactions, and a repair.

    .venv/bin/python bench/ledger_integrity.py [--sizes 10000,100000,1000000] [--block-size 100]
                                               [--repair-up-to 100000] [--dir /tmp/x]

Each ledger is built through `LedgerStore.commit_block` exactly as devnet commits (one SQLite
transaction per block, the commitment computed from the rows), with envelopes shaped and sized
like devnet's RegisterDataset transactions: a creator certificate and two endorsements with
~900-byte certificates, the dataset spec as argument, a ~500-byte value written to a fresh key
and a chaincode event (signatures are random bytes: the check does not verify them). Built with
synchronous=OFF to save time; the checks then run on the closed file, first after the build
(page cache warm) — as devnet's restart after a stop would find it.

Baselines in the same run: reading every byte of the file and hashing it with sha256 (what any
check that covers every byte must at least do), and the check devnet ran at start before state
commitments existed (the header hash chain only: it read 100 bytes per block and noticed
nothing inside a block or in the world state).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from network import protoutil as pu  # noqa: E402
from network.devnet.integrity import verify_database, verify_replay  # noqa: E402
from network.devnet.repair import repair_ledger  # noqa: E402
from network.devnet.replay import replay_block  # noqa: E402
from network.devnet.store import LedgerStore, connect_reader  # noqa: E402

CHAINCODE = "alliance"


def _pem(tag: bytes) -> bytes:
    body = hashlib.sha256(tag).digest() * 27  # 864 bytes, like a P-256 certificate's PEM
    return b"-----BEGIN CERTIFICATE-----\n" + body.hex()[:820].encode() + b"\n-----END-----\n"


CREATOR = pu.serialize_identity("BankMSP", _pem(b"client"))
ENDORSERS = [pu.serialize_identity(m, _pem(m.encode())) for m in ("BankMSP", "TelecomMSP")]


def _envelope(n: int) -> bytes:
    name = f"bank/d{n:08d}"
    spec = (
        (b'{"name":"%s","schema":[{"name":"id","type":"string"}],"row_count":1000,' % name.encode())
        + b'"fingerprint":"sha256:'
        + b"ab" * 32
        + b'"}'
    )
    proposal, _ = pu.create_proposal(
        "alliance", CHAINCODE, "RegisterDataset", [spec], CREATOR, nonce=os.urandom(24)
    )
    up = pu.unpack_proposal(pu.sign_proposal(proposal.SerializeToString(), lambda d: b"s" * 71))
    value = spec + b',"owner":"BankMSP","registered_at":1764600000,' + b"x" * 300
    rwset = pu.ReadWriteSet(
        CHAINCODE, reads={f"dataset/{name}": None}, writes={f"dataset/{name}": value}
    )
    events = pu.chaincode_event_bytes(CHAINCODE, up.tx_id, "DatasetRegistered", spec[:200])
    prp = pu.proposal_response_payload(
        up.hash(),
        pu.proposal_response_pb2.Response(status=200, payload=value),
        rwset.to_bytes(),
        events,
        CHAINCODE,
        "1.0",
    )
    ends = [pu.endorse(prp, e, lambda d: os.urandom(71)) for e in ENDORSERS]
    return pu.sign_envelope(
        pu.prepare_transaction(up, prp, ends), lambda d: os.urandom(71)
    ).SerializeToString()


def build(path: Path, transactions: int, block_size: int) -> float:
    started = time.perf_counter()
    store = LedgerStore(path)
    store._writer.execute("PRAGMA synchronous=OFF")  # build speed only; devnet runs FULL
    genesis = pu.new_block(0, b"", [pu.config_envelope("alliance")], [0])
    prev = pu.block_header_hash(genesis.header)
    store.commit_block(genesis, prev, [], {}, [])
    done = 0
    number = 1
    while done < transactions:
        count = min(block_size, transactions - done)
        envelopes = [_envelope(done + i) for i in range(count)]
        block = pu.new_block(number, prev, envelopes, [0] * count)
        prev = pu.block_header_hash(block.header)
        replayed = replay_block(block)
        store.commit_block(block, prev, replayed.txs, replayed.updates, replayed.history)
        done += count
        number += 1
    store.close()
    return time.perf_counter() - started


def _file_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))


def read_and_hash(path: Path) -> float:
    started = time.perf_counter()
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return time.perf_counter() - started


def header_chain_only(path: Path) -> float:
    started = time.perf_counter()
    conn = connect_reader(path)
    previous = b""
    for number, stored, prev, data_hash in conn.execute(
        "SELECT number, hash, previous_hash, data_hash FROM blocks ORDER BY number"
    ):
        header = pu.common_pb2.BlockHeader(number=number, previous_hash=prev, data_hash=data_hash)
        assert prev == previous and pu.block_header_hash(header) == stored
        previous = stored
    conn.close()
    return time.perf_counter() - started


def timed(fn, *args):
    started = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - started, result


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--block-size", type=int, default=100)
    parser.add_argument("--repair-up-to", type=int, default=100_000)
    parser.add_argument("--dir", type=Path, default=None, help="where to build (default: temp)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"load average {os.getloadavg()[0]:.1f}; block size {args.block_size}", flush=True)
    print(
        f"\n{'transactions':>12}{'blocks':>8}{'file MB':>9}{'build s':>9}{'read+sha s':>11}"
        f"{'old start s':>12}{'full check s':>13}{'µs/tx':>7}{'restart s':>10}{'µs/tx':>7}"
        f"{'replay s':>10}{'repair s':>10}",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="alliance-bench-integrity-", dir=args.dir) as tmp:
        for n in sizes:
            path = Path(tmp) / f"ledger-{n}.sqlite"
            build_s = build(path, n, args.block_size)
            size = _file_size(path)
            sha_s = read_and_hash(path)
            old_s = header_chain_only(path)
            conn = connect_reader(path)
            check_s, summary = timed(verify_database, conn)
            restart_s, _ = timed(verify_database, conn, summary.checkpoint.sealed())
            replay_s, _ = timed(verify_replay, conn)
            conn.close()
            repair_s = float("nan")
            if n <= args.repair_up_to:
                repair_s, _ = timed(repair_ledger, path)
            print(
                f"{n:>12,}{summary.height:>8,}{size / 2**20:>9.0f}{build_s:>9.0f}{sha_s:>11.2f}"
                f"{old_s:>12.2f}{check_s:>13.2f}{1e6 * check_s / n:>7.1f}{restart_s:>10.2f}"
                f"{1e6 * restart_s / n:>7.1f}{replay_s:>10.1f}"
                f"{repair_s:>10.1f}",
                flush=True,
            )
            for p in Path(tmp).glob(path.name + "*"):
                p.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
