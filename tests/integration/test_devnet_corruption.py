"""Devnet notices its own corruption (a real process and the `alliance` command line): an
altered world-state row or old block stops it from starting, `audit chain` names what is wrong
(devnet running or stopped), and `network repair` rebuilds the world state from the blocks."""

from __future__ import annotations

import sqlite3

import pytest
from cli_helpers import run
from fabric_protos.common import common_pb2

from network.devnet import check_ledger, kill_devnet
from network.devnet.launcher import stop_devnet
from network.devnet.server import ledger_path
from network.errors import DevnetError


def _fill(devnet, n: int = 30) -> None:
    with devnet.gateway() as gw:
        contract = devnet.contract(gw)
        for i in range(n):
            contract.submit_transaction("Put", f"dataset/{i:03d}", '{"row_count":1000}')


def _sql(devnet, statement: str, *params: object) -> None:
    conn = sqlite3.connect(ledger_path(devnet.net_dir))
    with conn:
        conn.execute(statement, params)
    conn.close()


def test_altered_world_state_refuses_start_and_repair_restores_it(devnet, capsys) -> None:
    _fill(devnet)
    assert stop_devnet(devnet.net_dir)
    _sql(
        devnet,
        "UPDATE state SET value = CAST('{\"row_count\":9000}' AS BLOB) "
        "WHERE key = CAST('dataset/007' AS BLOB)",
    )
    with pytest.raises(DevnetError, match=r"world state key 'dataset/007' does not match .* block"):
        devnet.restart()

    code, _, err = run(capsys, "--dir", str(devnet.net_dir), "audit", "chain")
    assert code == 1 and "'dataset/007'" in err and "block" in err

    code, out, _ = run(capsys, "--dir", str(devnet.net_dir), "--json", "network", "repair")
    assert code == 0 and "dataset/007" in out

    devnet.restart()
    with devnet.gateway() as gw:
        assert devnet.contract(gw).evaluate_transaction("Get", "dataset/007") == (
            b'{"row_count":1000}'
        )
    code, out, _ = run(capsys, "--dir", str(devnet.net_dir), "--json", "audit", "chain")
    assert code == 0 and '"verified": true' in out  # while devnet runs: read-only


def test_altered_endorser_certificate_in_an_old_block_refuses_start(devnet, capsys) -> None:
    _fill(devnet, 5)
    assert stop_devnet(devnet.net_dir)
    conn = sqlite3.connect(ledger_path(devnet.net_dir))
    (raw,) = conn.execute("SELECT block FROM blocks WHERE number = 1").fetchone()
    block = common_pb2.Block.FromString(raw)
    env = block.data.data[0]
    at = env.rindex(b"-----END CERTIFICATE-----") - 10  # inside the last (endorser's) cert
    block.data.data[0] = env[:at] + bytes([env[at] ^ 1]) + env[at + 1 :]
    with conn:
        conn.execute("UPDATE blocks SET block = ? WHERE number = 1", (block.SerializeToString(),))
    conn.close()

    with pytest.raises(DevnetError, match="block 1: data hash does not match"):
        devnet.restart()
    code, _, err = run(capsys, "--dir", str(devnet.net_dir), "audit", "chain")
    assert code == 1 and "block 1: data hash" in err
    code, _, err = run(capsys, "--dir", str(devnet.net_dir), "network", "repair")
    assert code == 1 and "block 1" in err and "corrupt" in err


def test_repair_is_refused_while_devnet_runs(devnet, capsys) -> None:
    code, _, err = run(capsys, "--dir", str(devnet.net_dir), "network", "repair")
    assert code == 4 and "network down" in err


def test_state_commitments_survive_sigkill_during_commits(devnet) -> None:
    import threading

    stop = threading.Event()

    def submitter(index: int) -> None:
        with devnet.gateway() as gw:
            contract = devnet.contract(gw)
            n = 0
            while not stop.is_set():
                n += 1
                try:
                    contract.submit_transaction("Put", f"k{index}-{n % 7}", str(n))
                except Exception:
                    return

    threads = [threading.Thread(target=submitter, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    _fill(devnet, 20)
    assert kill_devnet(devnet.net_dir) is not None
    stop.set()
    for t in threads:
        t.join(timeout=30)
    before = check_ledger(devnet.net_dir)  # blocks, commitments, world state, replay
    devnet.restart()
    conn = sqlite3.connect(ledger_path(devnet.net_dir))
    (verified,) = conn.execute("SELECT height FROM checkpoint").fetchone()
    conn.close()
    assert verified == before.height  # the restart verified the whole chain and recorded it
    _fill(devnet, 3)
    after = check_ledger(devnet.net_dir)
    assert after.height > before.height and after.transactions == before.transactions + 3


def test_network_up_on_an_altered_ledger_names_the_key_and_the_repair(devnet, capsys) -> None:
    _fill(devnet, 3)
    assert stop_devnet(devnet.net_dir)
    _sql(
        devnet, "UPDATE state SET value = CAST('x' AS BLOB) WHERE key = CAST('dataset/001' AS BLOB)"
    )
    code, _, err = run(capsys, "--dir", str(devnet.net_dir), "network", "up", "--no-nodes")
    assert code != 0
    assert "world state key 'dataset/001'" in err and "alliance network repair" in err
