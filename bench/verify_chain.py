"""How fast `alliance audit verify-chain` proves a devnet ledger: blocks/s and transactions/s, with
two baselines read through the same Deliver stream in the same run.

    .venv/bin/python bench/verify_chain.py [--txs 3000] [--clients 32] [--batch-size 100]
                                           [--batch-timeout-ms 50] [--repeat 3]

A fresh alliance (bank, telecom, platform; regulator as auditor) on devnet, the charter in effect,
then `--txs` RegisterDataset transactions submitted by `--clients` concurrent member admins (each
one a real transaction: signed proposal, two endorsements, signed envelope). Then, as the
regulator, each measured `--repeat` times (best run kept):

- `deliver only`: every block read through Deliver and parsed, nothing checked — the floor of
  any verifier that reads the chain the way verify-chain does;
- `hash-chain walk`: the same, plus each block's header hash, its link to the previous block and
  its data hash — what a plain hash-chain verifier checks;
- `verify-chain`: `alliance.app.audit.verify_chain`, everything it checks: links and data hashes,
  every creator and endorsement signature ECDSA-verified against the certificate valid at that
  block (MSP chain, validity, CRLs, ledger revocations, CA roots), the endorsement policy, each
  validation code, the governance contract replayed over every transaction, and the world state
  compared with the ledger's answers.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PASSPHRASE = b"bench-verify-chain"
MEMBERS = ["bank", "telecom", "platform"]


def _spec(name: str) -> str:
    return json.dumps({
        "name": name,
        "schema": [{"name": "id", "type": "string"}, {"name": "amount", "type": "integer"}],
        "row_count": 1000, "fingerprint": "sha256:" + "ab" * 32, "description": "bench",
        "tags": [],
    })


def _populate(net_dir: Path, txs: int, clients: int) -> float:
    """Submit `txs` RegisterDataset transactions from `clients` threads; seconds taken."""
    from network.connection import connect_member

    conns = [connect_member(net_dir, MEMBERS[i % len(MEMBERS)], "admin", PASSPHRASE)
             for i in range(clients)]

    def work(index: int) -> None:
        conn = conns[index]
        for n in range(index, txs, clients):
            conn.contract.submit_transaction("RegisterDataset", _spec(f"d{n:07d}"))

    start = time.perf_counter()
    try:
        with ThreadPoolExecutor(clients) as pool:
            list(pool.map(work, range(clients)))
    finally:
        for conn in conns:
            conn.close()
    return time.perf_counter() - start


def _walk(session: object, check_links: bool) -> tuple[int, int]:
    """Read every block through Deliver (and check the hash chain when asked); (blocks, txs)."""
    from network.deliver import BlockReader
    from network.protoutil import block_data_hash, block_header_hash

    conn = session.connection  # type: ignore[attr-defined]
    reader = BlockReader(conn.gateway, conn.profile.channel)
    height = reader.height()
    previous = None
    blocks = txs = 0
    for block in reader.blocks(0, height - 1, wait=False):
        if check_links:
            if previous is not None and block.header.previous_hash != previous:
                raise SystemExit(f"block {block.header.number}: broken link")
            if block_data_hash(block.data.data) != block.header.data_hash:
                raise SystemExit(f"block {block.header.number}: bad data hash")
            previous = block_header_hash(block.header)
        blocks += 1
        txs += len(block.data.data)
    return blocks, txs


def _best(repeat: int, run: object) -> tuple[float, object]:
    times = []
    result = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = run()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--txs", type=int, default=3000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--batch-timeout-ms", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    os.environ["ALLIANCE_PASSPHRASE"] = PASSPHRASE.decode()
    from alliance.app.audit import verify_chain
    from alliance.app.session import open_session
    from alliance.cli import main as cli
    from alliance.network_init import init_network

    with tempfile.TemporaryDirectory(prefix="alliance-bench-vc-") as tmp:
        net_dir = Path(tmp) / "net"
        init_network(net_dir, members=MEMBERS, auditors=["regulator"], passphrase=PASSPHRASE)
        if cli(["network", "up", "--dir", str(net_dir), "--no-nodes", "--batch-size",
                str(args.batch_size), "--batch-timeout-ms", str(args.batch_timeout_ms)]) != 0:
            return 1
        try:
            seconds = _populate(net_dir, args.txs, args.clients)
            print(f"populated: {args.txs} RegisterDataset transactions from {args.clients} "
                  f"clients in {seconds:.1f} s ({args.txs / seconds:.0f} tx/s)")
            with open_session(net_dir, "regulator", passphrase=PASSPHRASE) as s:
                rows = []
                t, (blocks, txs) = _best(args.repeat, lambda: _walk(s, False))
                rows.append(("deliver only (baseline)", t, blocks, txs, ""))
                t, (blocks, txs) = _best(args.repeat, lambda: _walk(s, True))
                rows.append(("hash-chain walk (baseline)", t, blocks, txs, ""))
                t, report = _best(args.repeat, lambda: verify_chain(s))
                assert report.ok, report.findings[:3]  # type: ignore[attr-defined]
                rows.append(("verify-chain", t, report.height,  # type: ignore[attr-defined]
                             report.transactions,  # type: ignore[attr-defined]
                             f"{report.signatures} signatures, "  # type: ignore[attr-defined]
                             f"{report.replayed} replayed"))  # type: ignore[attr-defined]
        finally:
            cli(["network", "down", "--dir", str(net_dir)])
    print(f"\n{'what':28} {'seconds':>8} {'blocks':>7} {'txs':>6} {'blocks/s':>9} {'tx/s':>8}")
    for label, t, blocks, txs, note in rows:
        print(f"{label:28} {t:8.2f} {blocks:7d} {txs:6d} {blocks / t:9.0f} {txs / t:8.0f}"
              f"  {note}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
