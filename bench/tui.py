"""The TUI on a busy ledger: first paint and event-to-screen latency with 1,000 jobs and 200
datasets on it.

    .venv/bin/python bench/tui.py [--jobs 1000] [--datasets 200] [--events 20] [--clients 16]

A fresh alliance (bank, telecom, platform; regulator as auditor) on devnet, no member nodes (the
jobs stay REQUESTED, so nothing runs), seeded by concurrent admin clients: `--datasets`
RegisterDataset (descriptions and fingerprints only) spread over the three members, then `--jobs`
RequestJob by telecom on a bank and a telecom column. Then the app runs headless
(`App.run_test`) as bank's admin:

- first paint: from starting the app to the Overview showing the ledger height and the pending
  approvals (1,000 of them), and to the Jobs screen listing every job;
- event to screen: a job requested by telecom on a bank column; from its commit
  (submit_transaction returns once the commit is confirmed) to the chaincode event's line in the
  live feed, and to the Overview's pending approvals listing it (the screen reads only the jobs
  the events name, GetJob, and adds their rows to the table in place).

Baseline in the same run: the bare queries one Overview load makes (ListMembers, ListJobs,
ListProposals, the chain info) from a plain client — the part of first paint that is the
ledger's.
Figures are printed as a table; nothing is asserted (tests do not time things).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PASSPHRASE = b"bench-passphrase"
MEMBERS = ["bank", "telecom", "platform"]


def seed(net_dir: Path, datasets: int, jobs: int, clients: int) -> None:
    from alliance.canonical import canonical_json
    from alliance.founding import found_charter, load_signed_charter
    from network.connection import connect_member

    conns = {org: connect_member(net_dir, org, "admin", PASSPHRASE)
             for org in [*MEMBERS, "regulator"]}
    found_charter(
        load_signed_charter(net_dir),
        lambda org, fn, arg: conns[org].contract.submit_transaction(fn, arg),
        "bank",
    )

    def register(i: int) -> None:
        org = MEMBERS[i % 3]
        spec = {
            "name": f"table-{i:04d}",
            "schema": [{"name": "customer_id", "type": "string"},
                       {"name": "amount", "type": "integer"}],
            "row_count": 1000 + i,
            "fingerprint": "sha256:" + f"{i:064x}",
            "description": f"synthetic table {i}",
            "tags": ["bench"],
        }
        conns[org].contract.submit_transaction("RegisterDataset", canonical_json(spec).decode())

    def request(i: int) -> None:
        body = {
            "protocol": "stats",
            "inputs": ["bank/table-0000:amount", "telecom/table-0001:amount"],
            "parameters": {"op": "sum"},
            "outputs": {"result": ["telecom"]},
            "expires_in_seconds": 7 * 86400,
            "max_runs": 1,
        }
        conns["telecom"].contract.submit_transaction("RequestJob", canonical_json(body).decode())

    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(register, range(datasets)))
        list(pool.map(request, range(jobs)))
    for conn in conns.values():
        conn.close()


def baseline(net_dir: Path, repeats: int = 3) -> float:
    """Seconds for the queries of one Overview load, from a plain client (best of N)."""
    from network.audit import chain_info
    from network.connection import connect_member

    best = float("inf")
    with connect_member(net_dir, "bank", "admin", PASSPHRASE) as conn:
        for _ in range(repeats):
            t0 = time.perf_counter()
            c = conn.contract
            json.loads(c.evaluate_transaction("ListMembers"))
            json.loads(c.evaluate_transaction("ListJobs", "{}"))
            json.loads(c.evaluate_transaction("ListProposals", "PENDING"))
            chain_info(conn.network)
            best = min(best, time.perf_counter() - t0)
    return best


async def measure_app(net_dir: Path, jobs: int, events: int) -> dict[str, object]:
    from alliance.canonical import canonical_json
    from network.connection import connect_member
    from tui.app import AllianceApp
    from tui.backend import Session
    from tui.widgets.filter_table import FilterTable

    async def until(pilot, predicate, timeout: float = 120.0) -> float:  # type: ignore[no-untyped-def]
        t0 = time.perf_counter()
        while True:
            try:
                if predicate():
                    return time.perf_counter()
            except Exception:
                pass
            if time.perf_counter() - t0 > timeout:
                raise TimeoutError("the screen did not show it in time")
            await pilot.pause(0.005)

    results: dict[str, object] = {}
    start = time.perf_counter()
    app = AllianceApp(Session(net_dir, "bank", "admin", PASSPHRASE))
    async with app.run_test(size=(120, 40)) as pilot:

        def pending_rows() -> int:
            return app.screen.query_one("#pending", FilterTable).table.row_count

        shown = await until(pilot, lambda: pending_rows() >= jobs)
        results["overview"] = shown - start
        t0 = time.perf_counter()
        app.switch_mode("jobs")
        await pilot.pause()
        app.screen.action_view("all")  # type: ignore[attr-defined]
        done = await until(
            pilot, lambda: app.screen.query_one("#jobs", FilterTable).table.row_count >= jobs
        )
        results["jobs"] = done - t0
        app.switch_mode("overview")
        await pilot.pause(0.5)

        feed_lat, screen_lat = [], []
        loop = asyncio.get_running_loop()
        body = canonical_json({
            "protocol": "stats",
            "inputs": ["bank/table-0000:amount", "telecom/table-0001:amount"],
            "parameters": {"op": "sum"},
            "outputs": {"result": ["telecom"]},
            "expires_in_seconds": 7 * 86400,
            "max_runs": 1,
        }).decode()
        with connect_member(net_dir, "telecom", "admin", PASSPHRASE) as conn:
            for _ in range(events):
                before = len(app.feed)
                job = await loop.run_in_executor(
                    None, lambda: json.loads(conn.contract.submit_transaction("RequestJob", body))
                )
                committed = time.perf_counter()
                seen = await until(pilot, lambda n=before: len(app.feed) > n)
                feed_lat.append(seen - committed)
                listed = await until(
                    pilot,
                    lambda j=job["id"]: j in app.screen.query_one("#pending", FilterTable).keys,
                )
                screen_lat.append(listed - committed)
        results["feed"] = feed_lat
        results["screen"] = screen_lat
    return results


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--datasets", type=int, default=200)
    parser.add_argument("--events", type=int, default=20)
    parser.add_argument("--clients", type=int, default=16)
    args = parser.parse_args()

    from alliance.network_init import init_network
    from network.connection import record_engine
    from network.devnet.launcher import start_devnet, stop_devnet

    with tempfile.TemporaryDirectory(prefix="bench-tui-") as tmp:
        net_dir = Path(tmp) / "net"
        init_network(net_dir, members=MEMBERS, auditors=["regulator"], passphrase=PASSPHRASE)
        start_devnet(net_dir, batch_timeout_ms=20)
        record_engine(net_dir, "devnet")
        try:
            t0 = time.perf_counter()
            seed(net_dir, max(args.datasets, 2), args.jobs, args.clients)
            seeded = time.perf_counter() - t0
            base = baseline(net_dir)
            r = asyncio.run(measure_app(net_dir, args.jobs, args.events))
        finally:
            stop_devnet(net_dir)

    feed, screen = r["feed"], r["screen"]
    assert isinstance(feed, list) and isinstance(screen, list)
    print(f"\nTUI on devnet with {args.jobs} jobs and {args.datasets} datasets "
          f"(seeded in {seeded:.1f} s)\n")
    rows = [
        ("baseline: one load's queries from a plain client", f"{base:.3f} s", ""),
        ("first paint: Overview with every pending approval", f"{r['overview']:.3f} s",
         "target <= 1.5 s"),
        ("Jobs screen listing every job", f"{r['jobs']:.3f} s", ""),
        (f"event -> live feed (commit to line), n={len(feed)}",
         f"p50 {statistics.median(feed):.3f} s",
         f"p95 {pct(feed, 0.95):.3f} s (0: on screen before submit returned)"),
        (f"event -> screen reloaded (job in my inbox), n={len(screen)}",
         f"p50 {statistics.median(screen):.3f} s", f"p95 {pct(screen, 0.95):.3f} s; "
         "target <= 1 s"),
    ]
    width = max(len(a) for a, _, _ in rows)
    print(f"{'measure':<{width}}  {'value':>14}  note")
    for a, b, c in rows:
        print(f"{a:<{width}}  {b:>14}  {c}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
