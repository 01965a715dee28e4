"""Base oblivious transfers: Chou-Orlandi "simplest OT" over the Edwards25519 prime-order group.

Used once per run to seed the OT extension (448 OTs of random 16-byte keys). Semi-honest model:
the receiver learns exactly one key k_{c_i} of each pair and nothing about the other (CDH in the
group, SHA-256 as a random oracle); the sender learns nothing about the choice bits c_i (B_i is a
uniformly random group element either way).

    sender:   a <- Z_l,  A = a*G                       -> A
    receiver: b_i <- Z_l, B_i = b_i*G + c_i*A          -> B_i
    sender:   k_i^0 = H(i, A, B_i, a*B_i),  k_i^1 = H(i, A, B_i, a*(B_i - A))
    receiver: k_i^{c_i} = H(i, A, B_i, b_i*A)

Group operations from libsodium (`pynacl`): crypto_scalarmult_ed25519_base_noclamp /
_noclamp, crypto_core_ed25519_add / _sub (points validated by libsodium on the way in).
"""

from __future__ import annotations

import hashlib
import secrets

from nacl.bindings import (
    crypto_core_ed25519_add,
    crypto_core_ed25519_scalar_reduce,
    crypto_core_ed25519_sub,
    crypto_scalarmult_ed25519_base_noclamp,
    crypto_scalarmult_ed25519_noclamp,
)
from nacl.exceptions import RuntimeError as NaclRuntimeError

from node.errors import ProtocolError

POINT_BYTES = 32
KEY_BYTES = 16


def _scalar() -> bytes:
    return crypto_core_ed25519_scalar_reduce(secrets.token_bytes(64))


def _key(index: int, a_point: bytes, b_point: bytes, shared: bytes) -> bytes:
    h = hashlib.sha256(b"alliance-psi-base-ot" + index.to_bytes(4, "little"))
    h.update(a_point + b_point + shared)
    return h.digest()[:KEY_BYTES]


class OtSender:
    """Holds a; `first()` gives A, `keys(B)` gives every pair (k0, k1)."""

    def __init__(self) -> None:
        self._a = _scalar()
        self.a_point = crypto_scalarmult_ed25519_base_noclamp(self._a)

    def keys(self, b_points: list[bytes]) -> list[tuple[bytes, bytes]]:
        out = []
        try:
            for i, b in enumerate(b_points):
                k0 = _key(i, self.a_point, b, crypto_scalarmult_ed25519_noclamp(self._a, b))
                diff = crypto_core_ed25519_sub(b, self.a_point)
                k1 = _key(i, self.a_point, b, crypto_scalarmult_ed25519_noclamp(self._a, diff))
                out.append((k0, k1))
        except (NaclRuntimeError, ValueError, TypeError) as exc:
            raise ProtocolError(f"base OT: the peer sent an invalid group element ({exc})") from exc
        return out


class OtReceiver:
    """Holds the choice bits; `reply(A)` gives the B_i, then `keys()` the chosen keys."""

    def __init__(self, choices: list[int]) -> None:
        self.choices = [int(c) & 1 for c in choices]
        self._b = [_scalar() for _ in self.choices]
        self._a_point = b""
        self._b_points: list[bytes] = []

    def reply(self, a_point: bytes) -> list[bytes]:
        if len(a_point) != POINT_BYTES:
            raise ProtocolError(f"base OT: the peer's first message has {len(a_point)} bytes")
        self._a_point = a_point
        points = []
        try:
            for b, c in zip(self._b, self.choices, strict=True):
                p = crypto_scalarmult_ed25519_base_noclamp(b)
                points.append(crypto_core_ed25519_add(p, a_point) if c else p)
        except (NaclRuntimeError, ValueError, TypeError) as exc:
            raise ProtocolError(f"base OT: the peer sent an invalid group element ({exc})") from exc
        self._b_points = points
        return points

    def keys(self) -> list[bytes]:
        return [
            _key(i, self._a_point, bp, crypto_scalarmult_ed25519_noclamp(b, self._a_point))
            for i, (b, bp) in enumerate(zip(self._b, self._b_points, strict=True))
        ]
