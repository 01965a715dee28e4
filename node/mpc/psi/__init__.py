"""Private set intersection: id normalisation, ECDH-PSI and the bulk KKRT16 engine ("psi").

Public surface: `PsiProtocol` (the job protocol), `Normalization`, and the engine drivers
`run_ecdh` / `run_kkrt` with `PsiRoles` / `PsiOutcome` for callers (the benchmark) that run an
engine directly over a transport.
"""

from node.mpc.psi.ecdh import run_ecdh
from node.mpc.psi.engine import run_kkrt
from node.mpc.psi.normalize import Normalization, normalize_ids
from node.mpc.psi.protocol import PsiProtocol, choose_engine
from node.mpc.psi.roles import PsiOutcome, PsiRoles

__all__ = [
    "Normalization",
    "PsiOutcome",
    "PsiProtocol",
    "PsiRoles",
    "choose_engine",
    "normalize_ids",
    "run_ecdh",
    "run_kkrt",
]
