"""AES-128 on one block inside compiled code: the fixed-key PRG of the DPF and FSS tree walks.

Why: a tree walk over few keys (a lookup's 3 DPF keys, its 15 FSS keys) is dominated by the
Python-level cost of one AES call per tree level (32 levels for FSS: ~0.35 ms per walk however
few the keys), not by the AES work itself (microseconds). With AES inside the compiled walk,
a walk is one call. The block cipher is the CPU's (AES-NI: `llvm.x86.aesni.aesenc`), through a
numba intrinsic; `HARDWARE` says whether this host has it. Without it (another architecture)
callers keep their walk with one `cryptography` call per level.

Blocks are two little-endian uint64 words (bytes 0-7, bytes 8-15), the same layout as the
walks' seeds; round keys come from `round_keys` (the standard AES-128 key expansion, checked
against FIPS-197 and `cryptography` in the tests). The LLVM IR is generated here, not next to
its callers (dpf.py, fss.py) as table.py's is: numba caches a caller keyed on the caller's file
alone, which would serve stale code only if this one changed, and AES does not.
"""

from __future__ import annotations

import platform
from typing import Any

import llvmlite.binding as llvm
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

ROUNDS = 10


def _has_aes() -> bool:
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return False
    try:
        return bool(llvm.get_host_cpu_features().get("aes", False))
    except RuntimeError:  # features unknown to LLVM on this host
        return False


HARDWARE = _has_aes()
"""This host encrypts with AES-NI inside compiled code."""


def _sbox() -> list[int]:
    """The AES S-box: the inverse in GF(2^8) (x^254), then the affine map."""
    def multiply(a: int, b: int) -> int:
        out = 0
        while b:
            if b & 1:
                out ^= a
            a = ((a << 1) ^ 0x11B) if a & 0x80 else a << 1
            b >>= 1
        return out

    box = []
    for x in range(256):
        inverse, power, exponent = 1, x, 254
        while exponent:
            if exponent & 1:
                inverse = multiply(inverse, power)
            power = multiply(power, power)
            exponent >>= 1
        y = inverse
        for shift in range(1, 5):
            y ^= ((inverse << shift) | (inverse >> (8 - shift))) & 0xFF
        box.append(y ^ 0x63)
    return box


_SBOX = _sbox()


def round_keys(key: bytes) -> np.ndarray:
    """The 11 round keys of AES-128 `key`, as uint64 (11 x 2 words, flat)."""
    if len(key) != 16:
        raise ValueError("AES-128 takes a 16-byte key")
    words = [list(key[4 * i:4 * i + 4]) for i in range(4)]
    rcon = 1
    for i in range(4, 4 * (ROUNDS + 1)):
        word = list(words[i - 1])
        if i % 4 == 0:
            word = [_SBOX[b] for b in word[1:] + word[:1]]
            word[0] ^= rcon
            rcon = (rcon << 1) ^ (0x11B if rcon & 0x80 else 0)
        words.append([a ^ b for a, b in zip(words[i - 4], word, strict=True)])
    flat = bytes(b for word in words for b in word)
    return np.frombuffer(flat, dtype="<u8").astype(np.uint64)


_I64 = ir.IntType(64)
_BLOCK = ir.VectorType(_I64, 2)


def _codegen(context: Any, builder: ir.IRBuilder, signature: Any, args: Any) -> Any:
    keys_type = signature.args[0]
    keys = context.make_array(keys_type)(context, builder, args[0])
    pointer = builder.bitcast(keys.data, _BLOCK.as_pointer())
    state = builder.insert_element(ir.Constant(_BLOCK, None), args[1], ir.Constant(_I64, 0))
    state = builder.insert_element(state, args[2], ir.Constant(_I64, 1))
    state = builder.xor(state, builder.load(builder.gep(pointer, [ir.Constant(_I64, 0)]),
                                            align=8))
    function_type = ir.FunctionType(_BLOCK, [_BLOCK, _BLOCK])
    enc = cgutils.get_or_insert_function(builder.module, function_type,
                                         "llvm.x86.aesni.aesenc")
    last = cgutils.get_or_insert_function(builder.module, function_type,
                                          "llvm.x86.aesni.aesenclast")
    for r in range(1, ROUNDS + 1):
        key = builder.load(builder.gep(pointer, [ir.Constant(_I64, r)]), align=8)
        state = builder.call(last if r == ROUNDS else enc, [state, key])
    low = builder.extract_element(state, ir.Constant(_I64, 0))
    high = builder.extract_element(state, ir.Constant(_I64, 1))
    return context.make_tuple(builder, signature.return_type, [low, high])


def encrypt_intrinsic() -> Any:
    """A numba intrinsic `encrypt(keys, low, high) -> (low, high)`: AES-128 of one block under
    `keys` (`round_keys`, a contiguous uint64 array of 22). Only where HARDWARE is true."""

    @intrinsic
    def encrypt(typingctx: Any, keys: Any, low: Any, high: Any) -> Any:
        if not (isinstance(keys, types.Array) and keys.dtype == types.uint64
                and keys.ndim == 1 and low == types.uint64 and high == types.uint64):
            return None
        return types.UniTuple(types.uint64, 2)(keys, low, high), _codegen

    return encrypt
