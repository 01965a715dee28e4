"""PSI kernels: transpose, cuckoo, lookup table, base OT, OPRF, digests, normalisation."""

from __future__ import annotations

import secrets

import numpy as np
import pytest

from node.errors import DatasetError
from node.mpc.psi import bitmatrix, cuckoo
from node.mpc.psi.base_ot import OtReceiver, OtSender
from node.mpc.psi.digest import digest_ids, unique_digests
from node.mpc.psi.kkrt import WIDE, WIDTH, OprfReceiver, OprfSender, PseudoRandomCode
from node.mpc.psi.lookup import ValueTable
from node.mpc.psi.normalize import Normalization, normalize_ids

RNG = np.random.default_rng(2024)


@pytest.mark.parametrize("shape", [(64, 8), (128, 24), (448, 64), (2048, 56)])
def test_transpose_matches_unpackbits_reference(shape: tuple[int, int]) -> None:
    m = RNG.integers(0, 256, shape, dtype=np.uint8)
    bits = np.unpackbits(m, axis=1, bitorder="little")
    expected = np.packbits(bits.T, axis=1, bitorder="little")
    assert (bitmatrix.transpose(m) == expected).all()
    assert (bitmatrix.transpose(expected) == m).all()


def test_transpose_refuses_sizes_that_are_not_multiples_of_64() -> None:
    with pytest.raises(ValueError, match="multiples of 64"):
        bitmatrix.transpose(np.zeros((65, 8), dtype=np.uint8))


@pytest.mark.parametrize("n", [1, 100, 50_000])
def test_cuckoo_places_every_item_once_at_one_of_its_bins(n: int) -> None:
    digests = RNG.integers(0, 2**63, (n, 2), dtype=np.uint64)
    nbins = cuckoo.bin_count(n)
    bins = cuckoo.bin_indices(digests, secrets.token_bytes(16), nbins)
    table = cuckoo.insert(bins, nbins)
    placed = table.table[table.table >= 0]
    assert placed.size + table.stash.size == n
    assert np.unique(np.concatenate([placed, table.stash])).size == n
    where = np.flatnonzero(table.table >= 0)
    assert (bins[table.choice[placed], placed] == where).all()


def test_cuckoo_overflow_goes_to_the_stash() -> None:
    digests = RNG.integers(0, 2**63, (200, 2), dtype=np.uint64)
    bins = cuckoo.bin_indices(digests, b"k" * 16, 64)  # 200 items, 64 bins
    table = cuckoo.insert(bins, 64, max_rounds=50)
    assert (table.table >= 0).sum() == 64
    assert table.stash.size == 136


def test_lookup_is_exact_even_with_shared_prefixes() -> None:
    prefix = RNG.integers(1, 2**63, 5000, dtype=np.uint64)
    suffix = RNG.integers(0, 2**32, 5000).astype(np.uint32)
    prefix[10] = prefix[11]  # same prefix, different suffix
    table = ValueTable(prefix, suffix)
    queries = np.concatenate([prefix[[11, 10, 3]], RNG.integers(1, 2**63, 1000, dtype=np.uint64)])
    qsuffix = np.concatenate([suffix[[11, 10, 3]], np.zeros(1000, dtype=np.uint32)])
    q, e = table.find(queries, qsuffix)
    assert sorted(zip(q.tolist(), e.tolist(), strict=True)) == [(0, 11), (1, 10), (2, 3)]


def test_base_ot_gives_the_chosen_key_only() -> None:
    choices = [secrets.randbits(1) for _ in range(64)]
    sender, receiver = OtSender(), OtReceiver(choices)
    pairs = sender.keys(receiver.reply(sender.a_point))
    for got, pair, c in zip(receiver.keys(), pairs, choices, strict=True):
        assert got == pair[c] and got != pair[1 - c]


@pytest.mark.parametrize("width", [WIDTH, WIDE])
def test_oprf_sender_evaluation_matches_receiver_output_only_on_its_input(width: int) -> None:
    pairs = [(secrets.token_bytes(16), secrets.token_bytes(16)) for _ in range(width)]
    choices = RNG.integers(0, 2, width).astype(np.uint8)
    code = PseudoRandomCode(secrets.token_bytes(16), width)
    receiver = OprfReceiver(pairs, code)
    sender = OprfSender(choices, [p[c] for p, c in zip(pairs, choices, strict=True)], code, 256)
    digests = RNG.integers(0, 2**63, (256, 2), dtype=np.uint64)
    tweaks = RNG.integers(0, 3, 256)
    outputs = []
    for c0 in (0, 128):
        u, values = receiver.chunk(digests[c0 : c0 + 128], tweaks[c0 : c0 + 128], c0)
        sender.absorb(u, c0)
        outputs.append(values)
    expected = np.concatenate(outputs)
    bins = np.arange(256)
    for tweak in range(3):
        rows = tweaks == tweak
        assert (sender.evaluate(digests[rows], bins[rows], tweak) == expected[rows]).all()
        other = sender.evaluate(digests[rows], bins[rows], (tweak + 1) % 3)
        assert not (other == expected[rows]).all(axis=1).any()


def test_digest_does_not_depend_on_array_width() -> None:
    narrow = np.array([b"abc", b"x" * 17])
    wide = np.array([b"abc", b"x" * 17], dtype="S40")
    assert (digest_ids(narrow) == digest_ids(wide)).all()
    assert (digest_ids(np.array([b"abc"])) != digest_ids(np.array([b"abd"]))).any()


def test_unique_digests_keeps_one_row_per_distinct_id() -> None:
    ids = np.array([b"a", b"b", b"a", b"c", b"b"])
    keep = unique_digests(digest_ids(ids))
    assert sorted(ids[keep].tolist()) == [b"a", b"b", b"c"]


@pytest.mark.parametrize("text", ["trim,lower", "nfc", "trim,casefold,nfkc", "none", "upper"])
def test_vectorised_normalisation_matches_the_reference(text: str) -> None:
    norm = Normalization.parse(text)
    values = [" Abc ", "\tx\x1f", "Ünïcödé ", "ß", "E\u0301", "ﬁ", "MiXeD", "  "]
    got = normalize_ids(np.array(values, dtype=object), norm).tolist()
    assert got == [norm.apply_str(v).encode() for v in values]


def test_normalisation_rejects_unknown_steps_and_newlines() -> None:
    with pytest.raises(ValueError, match="unknown normalisation"):
        Normalization.parse("trim,shout")
    with pytest.raises(DatasetError, match="newline"):
        normalize_ids(np.array(["a\nb"]), Normalization.parse("trim"))


def test_code_width_keeps_close_codewords_below_2_to_minus_40() -> None:
    from math import comb, log2

    from node.mpc.psi.kkrt import MAX_QUERIES_PER_ID, code_width

    for n in (1, 10**6, 10**7, 2 * 10**7, 10**8, 10**9):
        w = code_width(n)
        close = sum(comb(w, k) for k in range(128)) / 2**w
        assert log2(MAX_QUERIES_PER_ID * n * close) <= -40
