"""Dealer-assisted product of one party's private matrix with another party's private vector.

Owner O holds a matrix X (stored feature-major: Xt, m x n, fixed point in Z_2^64); holder H holds
a vector s (n words: its labels, or its additive share of a residual). They want Xᵀs, opened to O
only. A plaintext matrix times a *shared* vector is not local here: only O knows X, so the
products with H's part need correlated randomness, which the job's dealer D supplies (a matrix
Beaver triple, as in SecureML, Mohassel & Zhang 2017, with the masked matrix reused across
mini-batches):

- setup (once): D draws U (m x n) and sends O its seed; O sends H the masked matrix E = Xt - U
  (uniformly random to H, who never learns U).
- per product over columns C (a mini-batch, or all rows): D draws v_C (sent to H as a seed) and
  c_C = U[:, C]·v_C, split as c_O (a seed, to O) and c_H = c_C - c_O (sent to H).
  H sends O d = s_C - v_C (uniform to O) and its share E[:, C]·s_C + c_H;
  O adds its own share U[:, C]·d + c_O: the sum is X[C]ᵀ s_C (mod 2^64).
What each learns: O the product only; H nothing (E and the dealer's words are uniform); D the
shapes (m, n, the batches). A coalition of D with O learns s; of D with H learns X — the dealer
must be an organisation trusted not to collude (semi-honest, non-colluding dealer).

The same algebra runs in Z_2^32 (uint32) when every true value is below 2^31, as the binning
job's counts are: half the traffic. Pure numpy: the functions below are the algebra; the
protocols do the messaging.
"""

from __future__ import annotations

import numpy as np

from node.mpc.modelling import prg


def expand(u_seed: bytes, m: int, n: int, dtype: type = np.uint64) -> np.ndarray:
    """U from the dealer's seed, in Z_2^64 (uint64) or Z_2^32 (uint32: exact counts)."""
    return prg.matrix32(u_seed, m, n) if dtype is np.uint32 else prg.matrix(u_seed, m, n)


def dealer_share(u: np.ndarray, v: np.ndarray, c_owner: np.ndarray) -> np.ndarray:
    """c_H = U[:, C]·v - c_O: the dealer's word vector for H."""
    return u @ v - c_owner


def holder_share(e: np.ndarray, s: np.ndarray, c_holder: np.ndarray) -> np.ndarray:
    """H's share of X[C]ᵀ s: E[:, C]·s + c_H."""
    return e @ s + c_holder


def owner_share(u: np.ndarray, d: np.ndarray, c_owner: np.ndarray) -> np.ndarray:
    """O's share of X[C]ᵀ s: U[:, C]·d + c_O."""
    return u @ d + c_owner
