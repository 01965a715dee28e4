"""Benchmark: a member's node pushing new loan events, with its book kept between pushes.

One member (bank) of the `bench/query.py` alliance holds its share of 2^bits applicants (40 %
of them; ~0.92 million events at 2^20, ~3.9 million at 2^22) in its node's query store, and
`--new` fresh events (applications and new loans of the day) arrive. Each measured push runs
in a fresh process on its own copy of the store, the two paths alternating:

- **rebuilt** (the baseline: `feeding.push_book` before d2ecccc, 2026-12-05): every stored
  event read back and ingested again, then the new ones;
- **kept**: `feeding.push_book` now, the book kept by the previous push (`book.npz`) and the
  events stored since.

Each push goes as far as `QueryClient.contribute` (a stand-in that takes the contribution: the
upload is bench/query.py's), then stores the events (and, kept, the book). Printed per path:
the time until the contribution is ready to send (what delays an event reaching lookups), the
time after it (the push holds the member's store meanwhile), and the process's peak RSS. Also
the first push after an upgrade (no book kept yet: it builds one from every event and keeps it)
and the kept book's size.

    .venv/bin/python bench/member_push.py [--bits 20 22] [--new 10000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import shutil
import statistics
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from query import SALT, TODAY, _layout, _rss_peak, member_events, new_events

MEMBER = "bank"


class _Taker:
    """Stands in for the QueryClient: takes the contribution and notes when it was ready."""

    org = MEMBER

    def __init__(self) -> None:
        self.ready_at = 0.0

    def contribute(self, contribution: Any) -> None:
        self.ready_at = time.perf_counter()


def _rebuilt_push(store: Any, salt: bytes, layout: Any, client: _Taker, events: list[Any],
                  day: int) -> None:
    """feeding.push_book as of 0468460: the whole book built from every stored event."""
    from node.query.contribution import LoanBook

    with store.locked():
        book = LoanBook(salt, layout, client.org)
        book.ingest_many(store.events())
        book.ingest_many(events)
        version = store.next_version()
        records = book.aggregates(day)
        contribution = book.share(book.vector(records), version)
        store.save_sent(version, records)
        client.contribute(contribution)
        store.add_events(events)
        store.save_pushed(version, day, layout.fingerprint())


def push_process(folder: str, bits: int, path: str, count: int, conn: Connection) -> None:
    from node.query.feeding import push_book
    from node.query.member_store import MemberStore

    events = new_events(MEMBER, bits, count)
    store, taker = MemberStore(Path(folder)), _Taker()
    push = push_book if path == "kept" else _rebuilt_push
    started = time.perf_counter()
    push(store, SALT, _layout(bits), taker, events, TODAY)  # type: ignore[arg-type]
    ended = time.perf_counter()
    conn.send({"ready": taker.ready_at - started, "after": ended - taker.ready_at,
               "rss": _rss_peak()})


def _run(ctx: Any, template: Path, bits: int, path: str, count: int) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="alliance-push-"))
    try:
        shutil.copytree(template, work / "store")
        parent, child = ctx.Pipe()
        process = ctx.Process(target=push_process,
                              args=(str(work / "store"), bits, path, count, child))
        process.start()
        result: dict[str, Any] = parent.recv()
        process.join()
        return result
    finally:
        shutil.rmtree(work)


def measure(ctx: Any, bits: int, count: int, rounds: int) -> dict[str, Any]:
    from node.query.feeding import push_book
    from node.query.member_store import MemberStore

    work = Path(tempfile.mkdtemp(prefix="alliance-push-template-"))
    try:
        stored = member_events(MEMBER, bits)
        bare, kept = work / "bare", work / "kept"
        MemberStore(bare).add_events(stored)
        shutil.copytree(bare, kept)
        started = time.perf_counter()
        push_book(MemberStore(kept), SALT, _layout(bits), _Taker(), [], TODAY)  # type: ignore
        first = time.perf_counter() - started
        runs: dict[str, list[dict[str, Any]]] = {"rebuilt": [], "kept": []}
        for _ in range(rounds):
            runs["rebuilt"].append(_run(ctx, bare, bits, "rebuilt", count))
            runs["kept"].append(_run(ctx, kept, bits, "kept", count))
        return {"bits": bits, "stored": len(stored), "new": count, "first": first,
                "book_mib": (kept / "book.npz").stat().st_size / 2**20,
                "events_mib": (kept / "events.jsonl").stat().st_size / 2**20, "runs": runs}
    finally:
        shutil.rmtree(work)


def _spread(values: list[float], unit: str = "s") -> str:
    low, high, mid = min(values), max(values), statistics.median(values)
    return f"{mid:.2f} {unit} ({low:.2f}-{high:.2f})" if len(values) > 1 else f"{mid:.2f} {unit}"


def print_table(results: list[dict[str, Any]]) -> None:
    print("\n| 2^bits | stored events | new | path | until ready to send | after sending | "
          "peak RSS |")
    print("|---|---:|---:|---|---:|---:|---:|")
    for r in results:
        for path, runs in r["runs"].items():
            print(f"| 2^{r['bits']} | {r['stored']:,} | {r['new']:,} | {path} | "
                  f"{_spread([x['ready'] for x in runs])} | {_spread([x['after'] for x in runs])} "
                  f"| {max(x['rss'] for x in runs) / 2**20:,.0f} MiB |")
    for r in results:
        print(f"\n2^{r['bits']}: the first push after an upgrade (builds and keeps the book) "
              f"{r['first']:.2f} s; the kept book {r['book_mib']:.0f} MiB beside "
              f"{r['events_mib']:.0f} MiB of stored events")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bits", type=int, nargs="+", default=[20, 22])
    parser.add_argument("--new", type=int, default=10_000, help="new events per push")
    parser.add_argument("--rounds", type=int, default=3, help="pushes per path, alternating")
    args = parser.parse_args()
    ctx = mp.get_context("spawn")
    results = []
    for bits in args.bits:
        print(f"2^{bits} applicants: storing bank's events...", flush=True)
        results.append(measure(ctx, bits, args.new, args.rounds))
    print_table(results)


if __name__ == "__main__":
    main()
