"""Prototype, measured in one process: a dense layout for the multi-lender query.

The service's layout (node/query/layout.py) is blind and additive: every member adds its records
at an applicant's 16 slots, and a lookup needs one slot no other applicant touches. That caps it
at (ln 2)^2 / ln(2^20) = 0.035 applicants per slot: 2^20 applicants need 2^25 slots (512 MiB),
and each lookup scans all of it on each server.

Here members stay blind to each other and the servers to positions, but each member places *its
own* applicants: member m builds a cuckoo table of them in a segment of its own (3 parts of P
slots; an applicant sits in exactly one of its 3 candidate slots, one per part, all three in one
128-slot mask block; only m sees its placement). The servers hold D = T + R (fieldwise) over
the segments side by side, as the service does over its table (a member's contribution vector
is its segment, zeros elsewhere: the epoch exchange is unchanged). A lookup of applicant x:

1. round 1: 3 DPF keys (x's candidate slot in each part, the same in every segment) and a fresh
   mask rho_s per cell for each server; server s answers u_s = (its XOR share of D at the 3M
   cells) XOR rho_s. y = u_A XOR u_B = D XOR rho (rho = rho_A XOR rho_B) is then public to
   both servers (each u_s relayed by the asker encrypted under a key the two servers share,
   or exchanged between them) and uniform to each, which knows only its own rho_s;
2. round 2: per cell an FSS equality key (a DPF over the 32-bit tag domain with a vector
   payload): 1 at the masked tag the cell holds if it holds x's record; payload [match],
   [match] * rho's bit for every value bit, [match] * R for every value field. Each server
   evaluates every key at its cell's public y.tag and computes, locally, its additive share of
   the sum over cells of [match] * (D - R) per field (D = y XOR rho bit by bit:
   d = y + rho - 2 y rho). The asker adds the two shares: the sum over members of x's records
   and nothing else - not which members hold one, not other applicants' records (the service's
   purity check reveals its slots' tag sum and contributor count).

A wrong answer needs another applicant's 32-bit tag at one of the 3M cells (<= 3M * 2^-32 per
lookup: 2^-28 at 5 members); a cuckoo build that fails is seen by its member, which would need
a larger P (none failed at load 0.7 here). Table size: M * 3P slots, P the smallest power of two
holding the largest member's applicants at load <= 0.7. Against a *malicious* asker (the
service's model is semi-honest) the FSS keys could single out one segment, i.e. one member:
what the service's servers would need then is a check that every segment gets the same keys.

What this measures, per lookup, in this process (process CPU, least of 3): the servers' steps
(DPF evaluation, the answer over the bit-transposed table with the service's fused kernel, the
FSS evaluation and the local combination) and the asker's (both rounds' keys, the
combination), beside the service's layout for the same applicants (16 DPF keys and the answer
over its table, as `bench/query.py --kernel` measures them), and a plaintext lookup (the
floor). It first checks 40 sampled answers against the plaintext sum of the members' records.
Not measured: gRPC, TLS, signatures, the masks' OPRF (the same per lookup as the service's)
and the second round's messages. The FSS is numpy (the asker's keys cost ~0.1 ms each in
Python loops per level); the service's DPF code compiles that arithmetic.

    nice -n 10 .venv/bin/python bench/query_dense.py [--bits 20 22] [--members 5]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

import numba
import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from node.query import dpf, fieldwise, record, table

TAG_BITS = 32
LOAD = 0.7
HOLD = 0.4
"""Each member holds a random 40 % of the applicants (as bench/query.py's members do)."""
MAX_KICKS = 500
VALUE_FIELDS = [n for n in record.LAYOUT if n != "tag"]
VALUE_BITS = [(lane, shift + k, fi) for fi, n in enumerate(VALUE_FIELDS)
              for lane, shift, width in [record.LAYOUT[n]] for k in range(width)]
PAYLOAD = 1 + len(VALUE_BITS) + len(VALUE_FIELDS)
"""[match], [match] * rho's bit for each value bit, [match] * R_f for each value field."""
_WEIGHTS = np.array([1 << (bit - record.LAYOUT[VALUE_FIELDS[fi]][1]) for _, bit, fi in VALUE_BITS],
                    dtype=np.uint64)
_FIELD_BITS = np.array([fi for _, _, fi in VALUE_BITS])
_FIELD_MASKS = np.array([(1 << record.LAYOUT[n][2]) - 1 for n in VALUE_FIELDS], dtype=np.uint64)


# ---- hashing and the members' cuckoo tables --------------------------------------------------

def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64: a fixed public hash of the applicant's (already salted) id."""
    z = x + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def candidates(ids: np.ndarray, part_bits: int) -> np.ndarray:
    """(len, 3) slot of each applicant in each part (the same in every member's table). All
    three lie in one mask block (slots b*128 .. b*128+127 of every part, as in the service's
    layout): a lookup needs one OPRF evaluation per server for its masks."""
    block = (_mix(ids ^ np.uint64(0xB10C)) & np.uint64((1 << (part_bits - 7)) - 1)) \
        << np.uint64(7)
    return np.stack([block | (_mix(ids * np.uint64(3) + np.uint64(j)) & np.uint64(127))
                     for j in range(3)], axis=1)


def tags(ids: np.ndarray) -> np.ndarray:
    """A nonzero 32-bit tag per applicant (an empty cell's tag is 0)."""
    t = (_mix(ids ^ np.uint64(0x5151_5151_5151_5151)) & np.uint64(0xFFFFFFFF)).astype(np.uint32)
    return np.where(t == 0, np.uint32(1), t)


@numba.njit(cache=True)
def _cuckoo(cands: np.ndarray, part_slots: int, seed: int) -> np.ndarray:
    """Random-walk cuckoo insertion: the cell (part * P + slot) of every item, or -1 at failure."""
    np.random.seed(seed)
    owner = np.full(3 * part_slots, -1, dtype=np.int64)
    where = np.full(cands.shape[0], -1, dtype=np.int64)
    for item in range(cands.shape[0]):
        current, avoid, placed = item, -1, False
        for _ in range(MAX_KICKS):
            for j in range(3):
                cell = j * part_slots + cands[current, j]
                if owner[cell] < 0:
                    owner[cell] = current
                    where[current] = cell
                    placed = True
                    break
            if placed:
                break
            j = np.random.randint(3)
            while j == avoid:
                j = np.random.randint(3)
            cell = j * part_slots + cands[current, j]
            evicted = owner[cell]
            owner[cell] = current
            where[current] = cell
            where[evicted] = -1
            current, avoid = evicted, j
        if not placed:
            return np.full(cands.shape[0], -1, dtype=np.int64)
    return where


def member_table(ids: np.ndarray, records: np.ndarray, part_bits: int, seed: int) -> np.ndarray:
    """A member's own cuckoo table of its records: uint64 (3P, 2), empty cells zero."""
    part_slots = 1 << part_bits
    where = _cuckoo(candidates(ids, part_bits).astype(np.int64), part_slots, seed)
    if len(ids) and where[0] < 0:
        raise RuntimeError(f"cuckoo insertion failed at {len(ids) / 3 / part_slots:.2f} load")
    out = np.zeros((3 * part_slots, record.LANES), dtype=np.uint64)
    out[where] = records
    return out


# ---- FSS equality with a vector payload (BGI DPF over Z_2^64^L, single-point evaluation) ----

def _aes(label: bytes) -> Any:
    key = __import__("hashlib").sha256(b"alliance/bench/query-dense/" + label).digest()[:16]
    return Cipher(algorithms.AES(key), modes.ECB()).encryptor()


_LEFT, _RIGHT, _CONVERT = _aes(b"left"), _aes(b"right"), _aes(b"convert")


def _mmo(enc: Any, blocks: np.ndarray) -> np.ndarray:
    """AES(x) XOR x per 16-byte row of uint64 (n, 2)."""
    flat = np.ascontiguousarray(blocks)
    out = np.empty(flat.nbytes + 16, dtype=np.uint8)
    enc.update_into(flat.view(np.uint8).reshape(-1), out)
    return out[:flat.nbytes].view(np.uint64).reshape(flat.shape) ^ flat


def _expand(seeds: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    left, right = _mmo(_LEFT, seeds), _mmo(_RIGHT, seeds)
    t_left, t_right = left[:, 0] & np.uint64(1), right[:, 0] & np.uint64(1)
    left[:, 0] &= ~np.uint64(1)
    right[:, 0] &= ~np.uint64(1)
    return left, t_left, right, t_right


def _convert(seeds: np.ndarray, words: int) -> np.ndarray:
    """(n, words) uint64 from each seed: MMO of seed XOR counter."""
    blocks = (words + 1) // 2
    ctr = np.zeros((1, blocks, 2), dtype=np.uint64)
    ctr[0, :, 1] = np.arange(blocks, dtype=np.uint64)
    grid = (seeds[:, None, :] ^ ctr).reshape(-1, 2)
    return _mmo(_CONVERT, grid).reshape(len(seeds), -1)[:, :words]


def fss_keys(alphas: np.ndarray, betas: np.ndarray,
             rng: np.random.Generator) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Keys for f(x) = beta if x == alpha else 0 (32-bit x), output additive over Z_2^64."""
    n = len(alphas)
    seeds = [rng.integers(0, 2**63, (n, 2), dtype=np.uint64) for _ in (0, 1)]
    for s in seeds:
        s[:, 0] &= ~np.uint64(1)
    roots = [s.copy() for s in seeds]
    t = [np.zeros(n, dtype=np.uint64), np.ones(n, dtype=np.uint64)]
    cw_s = np.empty((n, TAG_BITS, 2), dtype=np.uint64)
    cw_t = np.empty((n, TAG_BITS, 2), dtype=np.uint64)
    alphas = alphas.astype(np.uint64)
    for level in range(TAG_BITS):
        bit = (alphas >> np.uint64(TAG_BITS - 1 - level)) & np.uint64(1)
        kids = [_expand(s) for s in seeds]
        go = bit.astype(bool)
        lose = [np.where(go[:, None], k[0], k[2]) for k in kids]
        cw_s[:, level] = lose[0] ^ lose[1]
        cw_t[:, level, 0] = kids[0][1] ^ kids[1][1] ^ bit ^ np.uint64(1)
        cw_t[:, level, 1] = kids[0][3] ^ kids[1][3] ^ bit
        keep_cw = np.where(go, cw_t[:, level, 1], cw_t[:, level, 0])
        for b in (0, 1):
            keep_s = np.where(go[:, None], kids[b][2], kids[b][0])
            keep_t = np.where(go, kids[b][3], kids[b][1])
            seeds[b] = keep_s ^ (cw_s[:, level] * t[b][:, None])
            t[b] = keep_t ^ (t[b] & keep_cw)
    conv = [_convert(s, betas.shape[1]) for s in seeds]
    cw_out = betas - conv[0] + conv[1]
    cw_out = np.where(t[1][:, None] == 1, np.uint64(0) - cw_out, cw_out)
    return tuple({"party": np.uint64(b), "root": roots[b], "cw_s": cw_s, "cw_t": cw_t,
                  "cw_out": cw_out} for b in (0, 1))  # type: ignore[return-value]


def fss_eval(key: dict[str, np.ndarray], xs: np.ndarray) -> np.ndarray:
    """This party's additive shares of f at xs (one point per key): uint64 (n, L)."""
    seeds, party = key["root"].copy(), key["party"]
    t = np.full(len(seeds), party, dtype=np.uint64)
    xs = xs.astype(np.uint64)
    for level in range(TAG_BITS):
        left, t_left, right, t_right = _expand(seeds)
        fix = key["cw_s"][:, level] * t[:, None]
        go = ((xs >> np.uint64(TAG_BITS - 1 - level)) & np.uint64(1)).astype(bool)
        seeds = np.where(go[:, None], right, left) ^ fix
        t = np.where(go, t_right ^ (t & key["cw_t"][:, level, 1]),
                     t_left ^ (t & key["cw_t"][:, level, 0]))
    out = _convert(seeds, key["cw_out"].shape[1]) + key["cw_out"] * t[:, None]
    return np.uint64(0) - out if party else out


def fss_key_bytes() -> int:
    return 16 + TAG_BITS * (16 + 2 / 8) + PAYLOAD * 8


# ---- the lookup, both rounds ----------------------------------------------------------------

def _value_bits(y: np.ndarray) -> np.ndarray:
    """(cells, value bits) 0/1 uint64 of records (cells, 2), in VALUE_BITS order."""
    lanes = np.array([lane for lane, _, _ in VALUE_BITS])
    shifts = np.array([bit for _, bit, _ in VALUE_BITS], dtype=np.uint64)
    return (y[:, lanes] >> shifts) & np.uint64(1)


def _field_of(values: np.ndarray, name: str) -> np.ndarray:
    return record.field(values, name)


class Servers:
    """Both servers' state: the members' masked tables side by side, bit-transposed."""

    def __init__(self, d: np.ndarray, members: int, part_bits: int) -> None:
        self.part_bits, self.members = part_bits, members
        words = (1 << part_bits) // 64
        self.cols = np.empty((members * 3, table.BITS, words), dtype=np.uint64)
        for part in range(members * 3):
            rows = d[part * (1 << part_bits):(part + 1) * (1 << part_bits)]
            table.transpose_part(rows, self.cols, part)

    def pir(self, keys: bytes, rho: np.ndarray, count: int) -> np.ndarray:
        """Round 1 for `count` lookups: u = XOR share of D at every lookup's 3M cells XOR rho."""
        batch = dpf.KeyBatch.parse(keys, self.part_bits)
        sel = dpf.evaluate_full(batch).reshape(count, 1, 3, -1)
        sel = np.ascontiguousarray(np.broadcast_to(sel, (count, self.members, 3, sel.shape[-1])))
        shares = table.answer(self.cols, sel.reshape(count, self.members * 3, -1))
        return shares.reshape(count * self.members * 3, record.LANES) ^ rho

    @staticmethod
    def finish(key: dict[str, np.ndarray], y: np.ndarray, cells: int) -> np.ndarray:
        """Round 2 for a batch of lookups (`cells` keys each, in order): this server's additive
        share of sum over a lookup's cells of [match] * (D - R), per value field (uint64,
        shape (lookups, value fields); meaningful mod 2^width)."""
        z = fss_eval(key, _field_of(y, "tag"))
        bits = _value_bits(y)
        nbits = len(VALUE_BITS)
        d_share = bits * z[:, :1] + (np.uint64(1) - np.uint64(2) * bits) * z[:, 1:1 + nbits]
        weighted = (d_share * _WEIGHTS).reshape(-1, cells, nbits).sum(axis=1, dtype=np.uint64)
        r_terms = z[:, 1 + nbits:].reshape(-1, cells, len(VALUE_FIELDS)).sum(
            axis=1, dtype=np.uint64)
        out = np.stack([weighted[:, np.equal(_FIELD_BITS, fi)].sum(axis=1, dtype=np.uint64)
                        for fi in range(len(VALUE_FIELDS))], axis=1)
        return (out - r_terms) & _FIELD_MASKS


class Asker:
    """The asker's side: knows the masks R (from the servers' OPRF in the service)."""

    def __init__(self, r: np.ndarray, members: int, part_bits: int, seed: int) -> None:
        self.r, self.members, self.part_bits = r, members, part_bits
        self.rng = np.random.default_rng(seed)

    def cells(self, applicant: int) -> np.ndarray:
        slots = candidates(np.array([applicant], dtype=np.uint64), self.part_bits)[0]
        part = 1 << self.part_bits
        return np.array([(m * 3 + j) * part + int(slots[j])
                         for m in range(self.members) for j in range(3)])

    def round1(self, applicant: int) -> tuple[bytes, bytes, np.ndarray, np.ndarray]:
        slots = candidates(np.array([applicant], dtype=np.uint64), self.part_bits)[0]
        alphas = [dpf.point_for_position(int(s), self.part_bits) for s in slots]
        key_a, key_b = dpf.generate_packed(alphas, self.part_bits)
        rho = [self.rng.integers(0, 2**63, (self.members * 3, record.LANES), dtype=np.uint64)
               for _ in (0, 1)]
        return key_a, key_b, rho[0], rho[1]

    def round2(self, applicant: int, rho: np.ndarray) -> tuple[dict[str, np.ndarray], ...]:
        r = self.r[self.cells(applicant)]
        tag = np.uint64(int(tags(np.array([applicant], dtype=np.uint64))[0]))
        alphas = ((tag + _field_of(r, "tag")) & np.uint64(0xFFFFFFFF)) ^ _field_of(rho, "tag")
        betas = np.empty((len(r), PAYLOAD), dtype=np.uint64)
        betas[:, 0] = 1
        betas[:, 1:1 + len(VALUE_BITS)] = _value_bits(rho)
        for fi, name in enumerate(VALUE_FIELDS):
            betas[:, 1 + len(VALUE_BITS) + fi] = _field_of(r, name)
        return fss_keys(alphas, betas, self.rng)

    @staticmethod
    def combine(share_a: np.ndarray, share_b: np.ndarray) -> dict[str, int]:
        total = (share_a[0] + share_b[0]) & _FIELD_MASKS
        return {name: int(total[fi]) for fi, name in enumerate(VALUE_FIELDS)}


def lookup(servers: Servers, asker: Asker, applicant: int) -> dict[str, int]:
    key_a, key_b, rho_a, rho_b = asker.round1(applicant)
    y = servers.pir(key_a, rho_a, 1) ^ servers.pir(key_b, rho_b, 1)
    fss_a, fss_b = asker.round2(applicant, rho_a ^ rho_b)
    cells = len(y)
    return asker.combine(Servers.finish(fss_a, y, cells), Servers.finish(fss_b, y, cells))


# ---- the scenario ---------------------------------------------------------------------------

def _records(rng: np.random.Generator, count: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    fields = {n: rng.integers(0, cap + 1, count, dtype=np.uint64)
              for n, cap in record.MEMBER_CAPS.items()}
    return fields["active_loans"], fields


def build(bits: int, members: int, seed: int = 1) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    applicants = 1 << bits
    held = [np.flatnonzero(rng.random(applicants) < HOLD).astype(np.uint64)
            for _ in range(members)]
    part_bits = max(int(np.ceil(np.log2(max(len(h) for h in held) / 3 / LOAD))), 10)
    part = 1 << part_bits
    tables, books = [], []
    started = time.perf_counter()
    for m, ids in enumerate(held):
        _, fields = _records(rng, len(ids))
        recs = record.pack(tags(ids), fields)
        tables.append(member_table(ids, recs, part_bits, seed + m))
        books.append((ids, recs))  # ids ascending
    cuckoo = (time.perf_counter() - started) / members
    t = np.concatenate(tables)
    r = rng.integers(0, 2**63, t.shape, dtype=np.uint64) | (
        rng.integers(0, 2, t.shape, dtype=np.uint64) << np.uint64(63))
    d = fieldwise.add(t, r)
    return {"bits": bits, "members": members, "part_bits": part_bits, "slots": len(t),
            "load": max(len(h) for h in held) / (3 * part), "held": held, "books": books,
            "servers": Servers(d, members, part_bits), "r": r, "cuckoo_s": cuckoo,
            "t": t, "present": len(set().union(*(h.tolist() for h in held)))}


def oracle(books: list[tuple[np.ndarray, np.ndarray]], applicant: int) -> dict[str, int]:
    """The plaintext sum of every member's record for the applicant."""
    out = dict.fromkeys(VALUE_FIELDS, 0)
    for ids, recs in books:
        at = int(np.searchsorted(ids, applicant))
        if at < len(ids) and int(ids[at]) == applicant:
            for name in VALUE_FIELDS:
                out[name] += int(record.field(recs[at], name))
    return out


def check(world: dict[str, Any], samples: int = 40) -> int:
    """Wrong answers among sampled applicants (present in 1..M members, and absent ones)."""
    rng = np.random.default_rng(7)
    asker = Asker(world["r"], world["members"], world["part_bits"], 11)
    wrong = 0
    for i in range(samples):
        applicant = int(rng.integers(0, 1 << world["bits"])) if i % 4 else \
            (1 << world["bits"]) + i  # never held by anyone
        if lookup(world["servers"], asker, applicant) != oracle(world["books"], applicant):
            wrong += 1
    return wrong


def _cpu(call: Any, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        call()
        best = min(best, time.process_time() - started)
    return best


def measure(world: dict[str, Any], batch: int) -> dict[str, float]:
    """Per-lookup process CPU of each step at a batch of `batch` concurrent lookups."""
    servers, members = world["servers"], world["members"]
    asker = Asker(world["r"], members, world["part_bits"], 13)
    rng = np.random.default_rng(batch)
    applicants = [int(a) for a in rng.integers(0, 1 << world["bits"], batch)]
    firsts = [asker.round1(a) for a in applicants]
    keys_a = b"".join(f[0] for f in firsts)
    rho_a = np.concatenate([f[2] for f in firsts])
    rho_b = np.concatenate([f[3] for f in firsts])
    batch_keys = dpf.KeyBatch.parse(keys_a, world["part_bits"])
    out: dict[str, float] = {"batch": batch}
    out["dpf"] = _cpu(lambda: dpf.evaluate_full(batch_keys)) / batch
    pir = _cpu(lambda: servers.pir(keys_a, rho_a, batch)) / batch
    out["answer"] = pir - out["dpf"]
    y = servers.pir(keys_a, rho_a, batch) ^ servers.pir(
        b"".join(f[1] for f in firsts), rho_b, batch)
    cells = members * 3
    fss = [asker.round2(a, (rho_a ^ rho_b)[i * cells:(i + 1) * cells])
           for i, a in enumerate(applicants)]
    merged = {k: np.concatenate([f[0][k] for f in fss]) if k != "party" else fss[0][0][k]
              for k in fss[0][0]}
    out["fss_batch"] = _cpu(lambda: fss_eval(merged, _field_of(y, "tag"))) / batch
    out["finish"] = _cpu(lambda: Servers.finish(merged, y, cells)) / batch
    out["client"] = _cpu(lambda: [asker.round2(a, rho_a[:cells]) for a in applicants]) / batch \
        + _cpu(lambda: [asker.round1(a) for a in applicants]) / batch
    return out


def service_rows(applicants: int) -> tuple[int, list[dict[str, Any]]] | None:
    """The service's layout for the same applicants: its server compute (bench/query.py)."""
    from node.query.layout import Layout

    layout = Layout.slots_for(applicants)
    if layout.slots * record.RECORD_BYTES > 2**30:
        return layout.table_bits, []
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import query as service_bench  # bench/query.py

    return layout.table_bits, service_bench.kernel_rows(layout.table_bits, (1, 64))


def plaintext(world: dict[str, Any]) -> float:
    """The floor: the same lookup in the clear (3 cells per member, tags compared, summed)."""
    t, part_bits, members = world["t"], world["part_bits"], world["members"]
    asker = Asker(world["r"], members, part_bits, 17)
    applicants = [int(a) for a in np.random.default_rng(3).integers(0, 1 << world["bits"], 1000)]

    def run() -> None:
        for a in applicants:
            cells = t[asker.cells(a)]
            tag = int(tags(np.array([a], dtype=np.uint64))[0])
            fieldwise.add(cells[0:1], cells[1:2])  # the sum's arithmetic, roughly
            _ = cells[record.field(cells, "tag") == tag]

    return _cpu(run) / len(applicants)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bits", type=int, nargs="+", default=[20, 22],
                        help="log2 of the applicants (default 20 22)")
    parser.add_argument("--members", type=int, default=5)
    args = parser.parse_args()
    print(f"dense layout prototype, in-process, {args.members} members each holding "
          f"{HOLD:.0%} of the applicants; load {os.getloadavg()[0]:.1f} at start; ms of process "
          f"CPU per lookup (least of 3)", flush=True)
    for bits in args.bits:
        started = time.perf_counter()
        world = build(bits, args.members)
        wrong = check(world)
        mib = world["slots"] * record.RECORD_BYTES / 2**20
        print(f"\n2^{bits} applicants ({world['present']:,} held by someone): dense table "
              f"{args.members} x 3 x 2^{world['part_bits']} = {world['slots']:,} slots, "
              f"{mib:,.0f} MiB, largest member's load {world['load']:.2f}; cuckoo build "
              f"{world['cuckoo_s']:.2f} s per member; {wrong} of 40 sampled answers wrong; "
              f"set up in {time.perf_counter() - started:.0f} s", flush=True)
        print(f"  per lookup and server: round-1 request {3 * dpf.key_size(world['part_bits'])} B"
              f" + rho {args.members * 3 * 16} B; round-2 request "
              f"{args.members * 3 * fss_key_bytes() / 1024:.1f} KiB "
              f"({args.members * 3} FSS keys); answers {args.members * 3 * 16} B + "
              f"{len(VALUE_FIELDS) * 8} B")
        print(f"  {'batch':>6}{'3 DPF keys':>12}{'answer':>9}{'FSS eval':>10}"
              f"{'FSS+combine':>13}{'server':>9}{'asker':>8}")
        for batch in (1, 64):
            m = measure(world, batch)
            server = m["dpf"] + m["answer"] + m["finish"]
            print(f"  {batch:>6}{m['dpf'] * 1e3:>12.3f}{m['answer'] * 1e3:>9.3f}"
                  f"{m['fss_batch'] * 1e3:>10.3f}{m['finish'] * 1e3:>13.3f}"
                  f"{server * 1e3:>9.3f}{m['client'] * 1e3:>8.3f}", flush=True)
        print(f"  plaintext lookup (floor): {plaintext(world) * 1e3:.3f} ms")
        del world
        table_bits, rows = service_rows(1 << bits)
        if not rows:
            print(f"  service layout for 2^{bits} applicants: 2^{table_bits} slots "
                  f"({(1 << table_bits) * 16 / 2**30:.0f} GiB a table): over the memory target,"
                  " not measured")
        for r in rows:
            print(f"  service layout, 2^{table_bits} slots "
                  f"({(1 << table_bits) * 16 / 2**20:,.0f} MiB), batch {r['count']}: 16 DPF keys "
                  f"{r['evaluate'] * 1e3:.3f}, answer {r['fused'] * 1e3:.3f}, server "
                  f"{(r['evaluate'] + r['fused']) * 1e3:.3f} ms", flush=True)
    print(f"\nload {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
