"""Benchmark: the multi-lender query service, two servers and the clients as separate processes.

A throw-away alliance of five members (`alliance network init`); bank runs query server A and
telecom server B, each in its own process, gRPC with mutual TLS on loopback. For each number of
applicants (2^bits; each member holds 40 % of them; the table is one segment per member sized
for that, node/query/layout.py):

1. ingestion: each member (its own process) generates its loan events, feeds them to its
   LoanBook (events/s), builds and secret-shares its contribution (its segment) and sends it;
2. visibility: the time until an epoch holding every member's contribution is served;
3. correctness: lookups of sampled applicants against the plaintext sum of all members' books;
4. load: client processes (threads inside) issue lookups paced at the target rate for a fixed
   time; achieved lookups/s, p50/p99 latency (a lookup = both rounds at both servers: 3 DPF
   keys applied to every segment, one full scan of each server's table, then one FSS key per
   slot read). Lookups arrive at random instants (`--arrivals poisson`: exactly rate x seconds
   of them, uniformly spread, as independent members' calls would) or on a fixed grid
   (`periodic`: every client process at the same instants); latency counts from when a lookup
   was due. The first `--warmup` seconds run at the same pace but are not counted (a service
   runs warm: the first calls on fresh channels and thread pools were half of a 20-s run's
   slowest 1 %); lookups/s, latency and CPU (user and kernel time, of every process) are of
   the measured window;
5. baselines in the same run: the plaintext lookup (each member's record looked up and summed:
   the floor) and one XOR pass over a table-sized array (the memory-bandwidth bound of one full
   scan);
6. peak RSS of each server process;
7. the host: a fixed one-core loop before and after the load, and how the machine's cores spent
   the measured window (busy, idle, stolen by the hypervisor for another virtual machine).

`--node-push` adds, after the load, a member's node pushing 10,000 new events as `alliance query
events` does (its events in its query store, its book kept by a push before): when they are
ready to send, sent, and counted by lookups, from when the node saw them.

`--kernel BITS...` measures instead, in this process, a server's CPU per lookup for its compute
steps at batch sizes 1, 2, 5, 8 and 64: evaluating the 3 DPF keys, the answer over the
bit-transposed table with the fused kernel beside the numpy AND + XOR-reduce it replaced (the
named baseline), the second round, and one XOR pass over the table.

    nice -n 10 .venv/bin/python bench/query.py [--bits 20 22] [--seconds 20] [--rates 200 100]
    nice -n 10 .venv/bin/python bench/query.py --kernel 20 22
"""

from __future__ import annotations

import argparse
import hashlib
import multiprocessing as mp
import os
import random
import resource
import shutil
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np

PASSPHRASE = b"bench-query-throwaway"
MEMBERS = ("bank", "telecom", "platform", "insurer", "lender")
SERVER_A, SERVER_B = "bank", "telecom"
SALT = b"bench-alliance-salt-0123456789ab"
TODAY = 20_000
CONSENT = "sha256:" + "cd" * 32
PURPOSE = "credit_check"


def _policy() -> Any:
    from node.query.authorize import PolicyAuthorizer, QueryPolicy

    return PolicyAuthorizer(QueryPolicy(frozenset(MEMBERS), frozenset({PURPOSE}), 10**9))


HOLD = 0.4
"""Each member has events for a random 40 % of the applicants (`member_events`)."""


def _layout(bits: int) -> Any:
    """The layout a job would ask for 2^bits applicants: each member's segment sized for the
    most it holds (40 % of them, with a margin of 5 % of that)."""
    from node.query.layout import Layout

    return Layout.for_applicants(int(HOLD * 1.05 * (1 << bits)), MEMBERS)


def applicants_for(bits: int) -> int:
    return 1 << bits


def member_events(member: str, bits: int) -> list[Any]:
    """The member's own event stream, reproducible from its name and the table size."""
    from node.query.contribution import EventKind, LoanEvent

    rng = random.Random(f"{member}/{bits}")
    count = applicants_for(bits)
    events: list[Any] = []
    for index in range(count):
        if rng.random() >= HOLD:
            continue
        applicant = f"applicant-{index}"
        for _ in range(rng.randint(1, 2)):
            events.append(LoanEvent(EventKind.APPLICATION, applicant, TODAY - rng.randrange(40)))
        if rng.random() < 0.5:
            loan = f"{member}-{index}"
            events.append(LoanEvent(EventKind.LOAN_OPENED, applicant, TODAY - 30, loan,
                                    rng.randrange(10**5, 10**8)))
            if rng.random() < 0.4:
                events.append(LoanEvent(EventKind.AMOUNT_CHANGED, applicant, TODAY - 5, loan,
                                        rng.randrange(0, 10**8)))
            if rng.random() < 0.2:
                events.append(LoanEvent(EventKind.LOAN_CLOSED, applicant, TODAY - 1, loan))
    return events


def new_events(member: str, bits: int, count: int) -> list[Any]:
    """A day's new events of a member: applications from random applicants, 30 % of them given
    a loan (bench/member_push.py, `--node-push`)."""
    from node.query.contribution import EventKind, LoanEvent

    rng = random.Random(f"new/{member}/{bits}/{count}")
    events: list[Any] = []
    while len(events) < count:
        applicant = f"applicant-{rng.randrange(applicants_for(bits))}"
        events.append(LoanEvent(EventKind.APPLICATION, applicant, TODAY))
        if rng.random() < 0.3:
            events.append(LoanEvent(EventKind.LOAN_OPENED, applicant, TODAY,
                                    f"{member}-new-{len(events)}", rng.randrange(10**5, 10**8)))
    return events[:count]


def _rss_peak() -> int:
    """This process's own peak RSS: VmHWM (Linux). getrusage's ru_maxrss also counts the
    parent's pages at fork (kept across exec): a server spawned after the benchmark's own
    3 GB plaintext table was reported at 4.2 GB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


# ---- processes ---------------------------------------------------------------------------------

def server_process(net_dir: str, org: str, role: str, peer_org: str, peer_address: str,
                   bits: int, folder: str, epoch_seconds: float, conn: Connection) -> None:
    from node.query.server import settle_heap
    from node.query.wiring import make_server

    server = make_server(Path(net_dir), org, role, peer_org, peer_address, _layout(bits),
                         Path(folder), _policy(), PASSPHRASE, epoch_seconds=epoch_seconds)
    server.start()
    settle_heap()  # as python -m node.query does
    conn.send(("port", server.port))
    while conn.recv() == "cpu":
        usage = resource.getrusage(resource.RUSAGE_SELF)
        conn.send(("cpu", usage.ru_utime + usage.ru_stime))
    server.stop(0)
    conn.send(("rss", _rss_peak()))


def member_process(net_dir: str, org: str, servers: tuple[tuple[str, str], tuple[str, str]],
                   bits: int, conn: Connection) -> None:
    from node.query.client import Member
    from node.query.contribution import LoanBook
    from node.query.wiring import make_client

    layout = _layout(bits)
    events = member_events(org, bits)
    member = Member(LoanBook(SALT, layout, org))
    started = time.perf_counter()
    member.book.ingest_many(events)
    ingest = time.perf_counter() - started
    started = time.perf_counter()
    contribution = member.prepare(TODAY, 1)
    prepare = time.perf_counter() - started
    client = make_client(Path(net_dir), org, servers, SALT, layout, PASSPHRASE, timeout=120)
    started = time.perf_counter()
    client.contribute(contribution)
    upload = time.perf_counter() - started
    client.close()
    conn.send({"org": org, "events": len(events), "ingest": ingest, "prepare": prepare,
               "upload": upload, "done_at": time.time()})


NODE_PUSHER = "lender"
NEW_EVENTS = 10_000


def node_push_process(net_dir: str, org: str, servers: tuple[tuple[str, str], tuple[str, str]],
                      bits: int, folder: str, conn: Connection) -> None:
    """`--node-push`: a member's node pushing new events as `alliance query events` does
    (feeding.push_book: its events in its query store, the book kept by its previous push).
    Its events are stored and a first push keeps its book (not timed); then it sees
    NEW_EVENTS new ones: when they are ready to send and when sent, from when it saw them."""
    from node.query.contribution import LoanBook
    from node.query.feeding import push_book
    from node.query.member_store import MemberStore
    from node.query.wiring import make_client

    layout = _layout(bits)
    store = MemberStore(Path(folder))
    store.add_events(member_events(org, bits))
    # version 1 was member_process's (from the same events): the store's versions go on from it
    store.save_sent(1, LoanBook(SALT, layout, org).aggregates(TODAY))
    client = make_client(Path(net_dir), org, servers, SALT, layout, PASSPHRASE, timeout=120)
    push_book(store, SALT, layout, client, [], TODAY)
    events = new_events(org, bits, NEW_EVENTS)
    conn.send("ready")
    conn.recv()
    marks: dict[str, float] = {}

    def step(task: str) -> None:
        if task.startswith("sending"):
            marks["ready"] = time.time()
        elif task.startswith("storing"):
            marks["sent"] = time.time()

    seen = time.time()
    pushed = push_book(store, SALT, layout, client, events, TODAY, step)
    client.close()
    conn.send({"seen": seen, "ready": marks["ready"] - seen, "sent": marks["sent"] - seen,
               "version": pushed.version, "events": len(events)})


def arrivals(kind: str, start: float, seconds: float, rate: float,
             rng: random.Random) -> list[float]:
    """When a client process sends its rate x seconds lookups in [start, start + seconds):
    "poisson", at instants drawn uniformly (a Poisson process given its count: members' callers
    asking independently); "periodic", every 1 / rate seconds (every client process then sends
    at the same instants as the others)."""
    count = round(rate * seconds)
    if kind == "poisson":
        return sorted(start + rng.random() * seconds for _ in range(count))
    return [start + k / rate for k in range(count)]


def load_process(net_dir: str, org: str, servers: tuple[tuple[str, str], tuple[str, str]],
                 bits: int, rate: float, threads: int, seconds: float, warmup: float,
                 kind: str, conn: Connection) -> None:
    from node.query.server import settle_heap
    from node.query.wiring import make_client

    layout = _layout(bits)
    client = make_client(Path(net_dir), org, servers, SALT, layout, PASSPHRASE, timeout=30)
    client.refresh_epoch()
    from node.query import dpf

    dpf.generate_packed([0], layout.part_bits)  # compiled (or loaded) before the clock starts
    settle_heap()  # a long-running client process (a member's node) would do the same
    count = applicants_for(bits)
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    conn.send("ready")
    start_at = conn.recv()
    measured_from = start_at + warmup
    cpu_before: float | None = None

    def ask(applicant: str, due: float, counted: bool) -> None:
        try:
            client.lookup(applicant, PURPOSE, CONSENT)
            if counted:  # from when it was due: waiting for a free thread counts too
                with lock:
                    latencies.append(time.time() - due)
        except Exception as exc:
            if counted:
                with lock:
                    errors.append(type(exc).__name__ + ": " + str(exc)[:120])

    rng = random.Random(org)
    schedule = [(due, False) for due in arrivals(kind, start_at, warmup, rate, rng)] + [
        (due, True) for due in arrivals(kind, measured_from, seconds, rate, rng)]
    with ThreadPoolExecutor(max_workers=threads) as pool:  # callers: a node's concurrent users
        for due, counted in schedule:
            if counted and cpu_before is None:  # CPU from the end of the warm-up on
                time.sleep(max(0.0, measured_from - time.time()))
                cpu_before = _cpu_seconds()
            now = time.time()
            if now < due:
                time.sleep(due - now)
            pool.submit(ask, f"applicant-{rng.randrange(count)}", due, counted)
    finished = time.time()
    client.close()
    conn.send({"latencies": latencies, "errors": errors, "finished": finished,
               "cpu": _cpu_seconds() - (cpu_before or 0.0)})


def _cpu_seconds() -> float:
    """This process's CPU time so far, in user code and in the kernel (as the servers' is)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# ---- kernel --------------------------------------------------------------------------------

def numpy_answer(cols: np.ndarray, selections: np.ndarray) -> np.ndarray:
    """The replaced numpy kernel (baseline): per block of 1024 words, AND into a temporary, then
    XOR-reduce it; returns the per-bit parity words (lookups, parts, 128). Part p takes
    selection p % k, as `table.answer` does."""
    parts, bits, words = cols.shape
    count = selections.shape[0]
    acc = np.zeros((count, parts, bits), dtype=np.uint64)
    block = 1024
    tmp = np.empty((count, bits, min(block, words)), dtype=np.uint64)
    for part in range(parts):
        for w0 in range(0, words, block):
            w1 = min(w0 + block, words)
            view = tmp[:, :, :w1 - w0]
            np.bitwise_and(cols[part, None, :, w0:w1],
                           selections[:, part % selections.shape[1], None, w0:w1], out=view)
            acc[:, part] ^= np.bitwise_xor.reduce(view, axis=2)
    return acc


def _cpu(call: Any, repeat: int) -> float:
    """The least process CPU time of `repeat` calls (s): the load-independent measure."""
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        call()
        best = min(best, time.process_time() - started)
    return best


def kernel_rows(bits: int, batches: tuple[int, ...] = (1, 2, 5, 8, 64)) -> list[dict[str, Any]]:
    """A server's compute per lookup for 2^bits applicants: the 3 DPF keys evaluated, the
    answer over every segment (fused kernel; the numpy kernel it replaced as the baseline),
    the second round (FSS keys at every slot read, the fields summed)."""
    from node.query import dpf, matching, record, table

    layout = _layout(bits)
    rng = np.random.default_rng(bits)
    words = layout.part_words
    cols = rng.integers(0, 2**63, (layout.subtables, table.COLUMNS, words), dtype=np.uint64)
    table.answer(cols, np.zeros((1, layout.subtables, words), dtype=np.uint64))  # compiled
    flat = cols.reshape(-1)
    scan = _cpu(lambda: np.bitwise_xor.reduce(flat), 3)
    slots = layout.subtables
    y = rng.integers(0, 2**63, (slots, 2), dtype=np.uint64)
    fss_key = matching.keys(1, y, y, record.FIELDS)[0]
    second = _cpu(lambda: matching.shares(y, fss_key, record.FIELDS, 0), 5)
    positions = layout.part_slots  # the leaves a server evaluates (server._answer_batch)
    rows = []
    for count in batches:
        pairs = dpf.generate_many(
            [int(p) for p in rng.integers(0, layout.part_slots, count * 3)], layout.part_bits)
        keys = [pair[0] for pair in pairs]
        evaluate = _cpu(lambda keys=keys: dpf.evaluate_full(keys, positions), 3)  # type: ignore[misc]
        selections = dpf.evaluate_full(keys, positions).reshape(count, 3, -1)[:, :, :words]
        repeat = 3 if count * cols.nbytes < 2**32 else 1
        fused = _cpu(lambda sel=selections: table.answer(cols, sel), repeat)  # type: ignore[misc]
        old = _cpu(lambda sel=selections: numpy_answer(cols, sel), 1)  # type: ignore[misc]
        rows.append({"bits": bits, "count": count, "evaluate": evaluate / count,
                     "fused": fused / count, "numpy": old / count, "scan": scan,
                     "second": second, "slots": layout.slots})
    return rows


def print_kernel(bits_list: list[int]) -> None:
    print(f"query server compute per lookup (process CPU, least of 3), load "
          f"{os.getloadavg()[0]:.1f} at start")
    print(f"{'applicants':>11}{'slots':>12}{'batch':>7}{'3 DPF keys':>12}{'fused answer':>14}"
          f"{'numpy answer':>14}{'round 2':>9}{'one XOR pass':>14}   ms")
    for bits in bits_list:
        for r in kernel_rows(bits):
            print(f"{'2^' + str(bits):>11}{r['slots']:>12,}{r['count']:>7}"
                  f"{r['evaluate'] * 1e3:>12.3f}{r['fused'] * 1e3:>14.3f}"
                  f"{r['numpy'] * 1e3:>14.3f}{r['second'] * 1e3:>9.3f}"
                  f"{r['scan'] * 1e3:>14.3f}", flush=True)
    print(f"load {os.getloadavg()[0]:.1f} at the end")


# ---- scenario ----------------------------------------------------------------------------------

def reference_seconds() -> float:
    """How long this host takes now for a fixed one-core loop (200,000 chained SHA-256), best
    of 3: a virtual machine's cores run at a speed that varies with its neighbours' load (the
    same loop has measured 1.7x apart minutes apart), and the latency under load with it."""
    best = float("inf")
    for _ in range(3):
        started, value = time.perf_counter(), b"alliance"
        for _ in range(200_000):
            value = hashlib.sha256(value).digest()
        best = min(best, time.perf_counter() - started)
    return best


def cpu_ticks() -> list[int] | None:
    """The machine's CPU time so far by kind (/proc/stat: user, nice, system, idle, iowait,
    irq, softirq, steal), or None off Linux."""
    try:
        with open("/proc/stat") as stat:
            return [int(x) for x in stat.readline().split()[1:9]]
    except (OSError, ValueError):
        return None


def core_shares(before: list[int] | None, after: list[int] | None) -> dict[str, float] | None:
    """How the machine's cores spent a window: busy, idle, and stolen (a virtual machine's
    core held by the hypervisor for another guest: the processes here wait, and no figure of
    theirs shows it but the latency)."""
    if before is None or after is None:
        return None
    delta = [b - a for a, b in zip(before, after, strict=True)]
    total = sum(delta) or 1
    return {"busy": sum(delta[i] for i in (0, 1, 2, 5, 6)) / total,
            "idle": (delta[3] + delta[4]) / total, "stolen": delta[7] / total}


def _spawn(ctx: Any, target: Any, *args: Any) -> tuple[Any, Connection]:
    parent, child = ctx.Pipe()
    process = ctx.Process(target=target, args=(*args, child), daemon=True)
    process.start()
    return process, parent


def plaintext_baselines(bits: int) -> dict[str, float]:
    """The plaintext lookup (each member's record of the applicant looked up and summed) and
    one XOR pass over a table-sized array, timed here; the plaintext sums of 40 sampled
    applicants (the correctness check)."""
    from node.query import table
    from node.query.contribution import LoanBook

    layout = _layout(bits)
    books = []
    for org in MEMBERS:
        book = LoanBook(SALT, layout, org)
        book.ingest_many(member_events(org, bits))
        books.append(book)
    records = [dict(book.aggregates(TODAY).as_dicts()) for book in books]

    def plain_sum(applicant: str) -> dict[str, int]:
        """Every member's record of the applicant (one salt: the same key in every book)."""
        key = books[0].key(applicant)
        sums: dict[str, int] = {}
        for held in records:
            agg = held.get(key)
            if agg is not None:
                for name, value in agg.items():
                    sums[name] = sums.get(name, 0) + value
        return sums

    rng = random.Random(1)
    count = applicants_for(bits)
    lookups = 2000
    asked = [f"applicant-{rng.randrange(count)}" for _ in range(lookups)]
    started = time.perf_counter()
    for applicant in asked:
        plain_sum(applicant)
    plain = (time.perf_counter() - started) / lookups
    # a table's worth of memory really held: np.zeros maps every page to the one zero page, a
    # pass over it reads the same cached page (64 GB/s here) and is no bound at all. As many
    # bytes as a server's pass reads: the bit columns it stores (table.COLUMNS of 128 per slot)
    total = np.full(layout.slots // 64 * table.COLUMNS, 0x5555555555555555, dtype=np.uint64)
    scan = []
    for _ in range(5):
        started = time.perf_counter()
        np.bitwise_xor.reduce(total.reshape(-1))
        scan.append(time.perf_counter() - started)
    expected = {f"applicant-{index}": plain_sum(f"applicant-{index}")
                for index in rng.sample(range(count), 40)}
    return {"plain_s": plain, "scan_s": min(scan), "table_bytes": total.nbytes,
            "expected": expected}  # type: ignore[dict-item]


def wait_for_table(watcher: Any, holds: Callable[[dict[str, int]], bool]) -> None:
    """Until both servers serve a common table whose members' contribution versions `holds`
    accepts (no common table for a moment: the servers are forming one)."""
    while True:
        try:
            if holds(watcher.refresh_epoch()[2]):
                return
        except Exception:
            pass
        time.sleep(0.2)


def scenario(ctx: Any, net_dir: Path, bits: int, rate: float, seconds: float, warmup: float,
             kind: str, epoch_seconds: float, clients: int, threads: int,
             node_push: bool = False) -> dict[str, Any]:
    from node.query.wiring import make_client

    folder = Path(tempfile.mkdtemp(prefix=f"bench-query-{bits}-"))
    b_proc, b_conn = _spawn(ctx, server_process, str(net_dir), SERVER_B, "b", SERVER_A, "", bits,
                            str(folder / "b"), epoch_seconds)
    b_port = b_conn.recv()[1]
    a_proc, a_conn = _spawn(ctx, server_process, str(net_dir), SERVER_A, "a", SERVER_B,
                            f"127.0.0.1:{b_port}", bits, str(folder / "a"), epoch_seconds)
    a_port = a_conn.recv()[1]
    servers = ((SERVER_A, f"127.0.0.1:{a_port}"), (SERVER_B, f"127.0.0.1:{b_port}"))
    out: dict[str, Any] = {"bits": bits, "applicants": applicants_for(bits)}
    try:
        members = [_spawn(ctx, member_process, str(net_dir), org, servers, bits)
                   for org in MEMBERS]
        reports = [conn.recv() for _, conn in members]
        for process, _ in members:
            process.join()
        out["members"] = reports
        last_done = max(r["done_at"] for r in reports)
        watcher = make_client(net_dir, "platform", servers, SALT, _layout(bits), PASSPHRASE,
                              timeout=60)
        wait_for_table(watcher, lambda versions: len(versions) == len(MEMBERS))
        out["visible_after"] = time.time() - last_done
        out["formed_in"] = watcher.formed_in
        baselines = plaintext_baselines(bits)
        out.update({k: v for k, v in baselines.items() if k != "expected"})
        wrong = 0
        for applicant, sums in baselines["expected"].items():
            got = watcher.lookup(applicant, PURPOSE, CONSENT).aggregates.as_dict()
            want = {name: sums.get(name, 0) for name in got}
            wrong += got != want
        out["checked"], out["wrong"] = len(baselines["expected"]), wrong
        watcher.close()
        loads = [_spawn(ctx, load_process, str(net_dir), MEMBERS[2 + i % 3], servers, bits,
                        rate / clients, threads, seconds, warmup, kind) for i in range(clients)]
        for _, conn in loads:
            conn.recv()
        out["reference_before"] = reference_seconds()
        start_at = time.time() + 1.0
        for _, conn in loads:
            conn.send(start_at)
        time.sleep(max(0.0, start_at + warmup - time.time()))
        ticks_before = cpu_ticks()
        cpu_before = []
        for conn in (a_conn, b_conn):
            conn.send("cpu")
            cpu_before.append(conn.recv()[1])
        results = [conn.recv() for _, conn in loads]
        out["cores"] = core_shares(ticks_before, cpu_ticks())
        out["reference_after"] = reference_seconds()
        server_cpu = []
        for conn, before in zip((a_conn, b_conn), cpu_before, strict=True):
            conn.send("cpu")
            server_cpu.append(conn.recv()[1] - before)
        latencies = sorted(x for r in results for x in r["latencies"])
        errors = [e for r in results for e in r["errors"]]
        elapsed = max(r["finished"] for r in results) - (start_at + warmup)
        out.update(
            target_rate=rate, lookups=len(latencies), errors=len(errors),
            error_sample=errors[:3], rate=len(latencies) / elapsed,
            p50=statistics.median(latencies) if latencies else float("nan"),
            p99=latencies[int(0.99 * (len(latencies) - 1))] if latencies else float("nan"),
            client_cpu_per_lookup=sum(r["cpu"] for r in results) / max(len(latencies), 1),
            server_cpu_per_lookup=[c / max(len(latencies), 1) for c in server_cpu])
        if node_push:
            out["node_push"] = measure_node_push(ctx, net_dir, servers, bits, folder)
    finally:
        for conn in (a_conn, b_conn):
            conn.send("stop")
        try:
            out["rss_a"] = a_conn.recv()[1]
            out["rss_b"] = b_conn.recv()[1]
            for process in (a_proc, b_proc):
                process.join(timeout=30)
        finally:  # the servers' stores: 0.2 GB at 2^20 applicants, 0.8 GB at 2^22
            shutil.rmtree(folder, ignore_errors=True)
    return out


def measure_node_push(ctx: Any, net_dir: Path, servers: tuple[tuple[str, str], tuple[str, str]],
                      bits: int, folder: Path) -> dict[str, Any]:
    """After the load: NODE_PUSHER's node pushes NEW_EVENTS new events; when both servers serve
    a table holding them, from when its node saw them."""
    from node.query.wiring import make_client

    process, conn = _spawn(ctx, node_push_process, str(net_dir), NODE_PUSHER, servers, bits,
                           str(folder / "node-store"))
    conn.recv()
    conn.send("go")
    pushed: dict[str, Any] = conn.recv()
    process.join()
    watcher = make_client(net_dir, "platform", servers, SALT, _layout(bits), PASSPHRASE,
                          timeout=60)
    try:
        wait_for_table(watcher, lambda versions: versions.get(NODE_PUSHER, 0) >= pushed["version"])
    finally:
        watcher.close()
    return pushed | {"visible": time.time() - pushed["seen"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bits", type=int, nargs="+", default=[20, 22])
    parser.add_argument("--rates", type=float, nargs="+", default=[200.0, 100.0],
                        help="target lookups/s, one per table size")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured seconds of load")
    parser.add_argument("--warmup", type=float, default=2.0,
                        help="seconds of load at the same pace before the measured ones")
    parser.add_argument("--arrivals", choices=("poisson", "periodic"), default="poisson",
                        help="when lookups are sent: at random instants (independent members) "
                             "or on a fixed grid, the same in every client process")
    parser.add_argument("--epoch-seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=2, help="client processes")
    parser.add_argument("--threads", type=int, default=32,
                        help="calling threads per client process (a lookup due while all are "
                             "busy waits, and its latency counts the wait)")
    parser.add_argument("--node-push", action="store_true",
                        help=f"after the load, {NODE_PUSHER}'s node pushes {NEW_EVENTS:,} new "
                             "events as `alliance query events` does (its book kept by a push "
                             "before): how long until lookups count them")
    parser.add_argument("--kernel", type=int, nargs="*", metavar="BITS",
                        help="measure the servers' compute per lookup at these table sizes")
    args = parser.parse_args()
    if args.kernel:
        print_kernel(args.kernel)
        return
    os.environ["ALLIANCE_PASSPHRASE"] = PASSPHRASE.decode()
    from alliance.network_init import init_network

    ctx = mp.get_context("spawn")
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-query-") as tmp:
        net_dir = Path(tmp) / "net"
        init_network(net_dir, list(MEMBERS), [], PASSPHRASE)
        for bits, rate in zip(args.bits, args.rates, strict=False):
            rows.append(scenario(ctx, net_dir, bits, rate, args.seconds, args.warmup,
                                 args.arrivals, args.epoch_seconds, args.clients, args.threads,
                                 args.node_push))
    print(f"multi-lender query: 2 servers + {args.clients} client processes x {args.threads} "
          f"threads, gRPC + mutual TLS on loopback, 5 members, load {os.getloadavg()[0]:.1f}")
    from node.query.record import RECORD_BYTES

    for r in rows:
        events = sum(m["events"] for m in r["members"])
        ingest = max(m["ingest"] for m in r["members"])
        layout = _layout(r["bits"])
        print(f"\n2^{r['bits']} applicants, {events:,} events from 5 members; table "
              f"{layout.segments} x 3 x {layout.part_slots:,} = {layout.slots:,} slots "
              f"({r['table_bytes'] / 2**20:.0f} MiB)")
        print(f"  ingestion: {events / ingest:,.0f} events/s into the loan books (5 in "
              f"parallel; slowest {ingest:.2f} s); build+share "
              f"{max(m['prepare'] for m in r['members']):.2f} s, upload "
              f"{max(m['upload'] for m in r['members']):.2f} s per member (its segment, "
              f"{layout.segment_slots * RECORD_BYTES / 2**20:.0f} MiB)")
        print(f"  visible to lookups {r['visible_after']:.1f} s after the last upload "
              f"(epoch interval {args.epoch_seconds:.0f} s; forming an epoch took "
              f"{r['formed_in']:.1f} s)")
        print(f"  correctness: {r['checked']} sampled applicants, {r['wrong']} wrong")
        print(f"  load: {args.seconds:.0f} s measured after {args.warmup:.0f} s of warm-up at the "
              f"same pace, {args.arrivals} arrivals; latency from when each lookup was due")
        print(f"  {'':34}{'lookups/s':>10}{'p50 ms':>9}{'p99 ms':>9}")
        print(f"  {'secure, target ' + format(r['target_rate'], '.0f') + '/s':34}"
              f"{r['rate']:>10.1f}{r['p50'] * 1e3:>9.1f}{r['p99'] * 1e3:>9.1f}"
              f"   ({r['lookups']} done, {r['errors']} errors)")
        print(f"  {'plaintext lookup (floor)':34}{1 / r['plain_s']:>10.0f}"
              f"{r['plain_s'] * 1e3:>9.3f}")
        print(f"  {'one XOR pass over the table':34}{1 / r['scan_s']:>10.0f}"
              f"{r['scan_s'] * 1e3:>9.2f}   (memory-bandwidth bound per server core)")
        cpu_a, cpu_b = r["server_cpu_per_lookup"]
        print(f"  CPU per lookup: client {r['client_cpu_per_lookup'] * 1e3:.1f} ms, server A "
              f"{cpu_a * 1e3:.1f} ms, B {cpu_b * 1e3:.1f} ms; server peak RSS A "
              f"{r['rss_a'] / 2**20:.0f} MiB, B {r['rss_b'] / 2**20:.0f} MiB")
        print(f"  host speed: a fixed one-core loop took {r['reference_before'] * 1e3:.0f} ms "
              f"before the load, {r['reference_after'] * 1e3:.0f} ms after (lower is faster)")
        if r["cores"]:
            print(f"  the {os.cpu_count()} cores while measured: busy {r['cores']['busy']:.0%}, "
                  f"idle {r['cores']['idle']:.0%}, stolen by the hypervisor "
                  f"{r['cores']['stolen']:.0%} (a run with cores stolen measured a smaller "
                  "machine)")
        if "node_push" in r:
            n = r["node_push"]
            print(f"  through a member's node ({NODE_PUSHER}, `alliance query events`'s push, its "
                  f"book kept): {n['events']:,} new events ready to send {n['ready']:.2f} s "
                  f"after the node saw them, sent at {n['sent']:.2f} s, counted by lookups at "
                  f"{n['visible']:.1f} s (epoch interval {args.epoch_seconds:.0f} s)")
        if r["error_sample"]:
            print(f"  errors: {r['error_sample']}")


if __name__ == "__main__":
    main()
