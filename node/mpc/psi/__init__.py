"""Private set intersection: id normalisation, ECDH-PSI and the bulk KKRT16 engine ("psi").

Public surface: `PsiProtocol` (the job protocol), `Normalization`, and the engine drivers
`run_ecdh` / `run_kkrt` / `run_partitioned` (the bulk engine on padded digest-prefix partitions,
for sets too large to run at once) with `PsiRoles` / `PsiOutcome` for callers that run an engine
directly over a transport.
"""

from node.mpc.psi.ecdh import run_ecdh
from node.mpc.psi.engine import run_kkrt
from node.mpc.psi.normalize import Normalization, normalize_ids
from node.mpc.psi.partition import partition_count, run_partitioned
from node.mpc.psi.protocol import PsiProtocol, choose_engine
from node.mpc.psi.roles import PsiOutcome, PsiRoles

__all__ = [
    "Normalization",
    "PsiOutcome",
    "PsiProtocol",
    "PsiRoles",
    "choose_engine",
    "normalize_ids",
    "partition_count",
    "run_ecdh",
    "run_kkrt",
    "run_partitioned",
]
