"""What each server hands the other through the asker between a lookup's two rounds.

In round 1 server s computes u_s = (its XOR share of D at the lookup's slots) XOR rho_s. Both
servers need y = u_A XOR u_B for round 2 (matching.py), and the asker must not see it (it knows
rho = rho_A XOR rho_B and would read D, hence every member's record at those slots). So each
server seals u_s with AES-GCM under the epoch's pair key, which the two servers agree on when
they form the epoch (over their mutual-TLS link) and nobody else holds; the asker carries both
sealed halves to both servers in round 2. The associated data binds a half to its server, the
lookup id the asker chose for both rounds and the epoch: halves of different lookups cannot be
mixed. Pure apart from os.urandom.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from node.query.errors import ProtocolError

PAIR_KEY_BYTES = 32
LOOKUP_ID_BYTES = 16
NONCE_BYTES = 12
OVERHEAD = NONCE_BYTES + 16


def new_pair_key() -> bytes:
    return os.urandom(PAIR_KEY_BYTES)


def new_lookup_id() -> bytes:
    return os.urandom(LOOKUP_ID_BYTES)


def _context(server: str, lookup_id: bytes, epoch: int) -> bytes:
    return b"alliance/query/relay/v1|" + server.encode() + b"|" + lookup_id + b"|" + \
        str(epoch).encode()


def seal(pair_key: bytes, server: str, lookup_id: bytes, epoch: int, half: bytes) -> bytes:
    """Server `server`'s half of y, for the other server only."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(pair_key).encrypt(nonce, half, _context(server, lookup_id, epoch))


def open_half(pair_key: bytes, server: str, lookup_id: bytes, epoch: int, sealed: bytes) -> bytes:
    """The half `server` sealed for this lookup and epoch; ProtocolError if it is not one."""
    if len(sealed) < OVERHEAD:
        raise ProtocolError(f"a sealed half from {server} is too short")
    try:
        return AESGCM(pair_key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:],
                                        _context(server, lookup_id, epoch))
    except InvalidTag:
        raise ProtocolError(f"the half sealed by {server} does not open for this lookup and "
                            "epoch (altered, or from another lookup)") from None
