"""Protocol name -> protocol instance, and `execute`, which makes any failure an abort for all
(telling the peers only the failure's code, never its text: node/failures.py).

A plain dict so that a new protocol registers with one line (`PROTOCOLS["psi"] = PsiProtocol()`).
"""

from __future__ import annotations

from node.errors import ProtocolAborted, ProtocolError
from node.failures import public_abort_reason
from node.mpc.modelling import (
    BinningProtocol,
    LrPredictProtocol,
    LrTrainProtocol,
    ScorecardProtocol,
)
from node.mpc.modelling.gbdt import GbdtPredictProtocol, GbdtTrainProtocol
from node.mpc.protocol import JobContext, LocalInputs, MpcProtocol, ProtocolResult
from node.mpc.psi import PsiProtocol
from node.mpc.stats import StatsProtocol
from node.mpc.transport import Transport

PROTOCOLS: dict[str, MpcProtocol] = {
    "stats": StatsProtocol(),
    "psi": PsiProtocol(),
    "binning": BinningProtocol(),
    "lr_train": LrTrainProtocol(),
    "lr_predict": LrPredictProtocol(),
    "scorecard": ScorecardProtocol(),
    "gbdt_train": GbdtTrainProtocol(),
    "gbdt_predict": GbdtPredictProtocol(),
}


def get_protocol(name: str) -> MpcProtocol:
    """The registered protocol called `name`; ProtocolError naming the known ones otherwise."""
    try:
        return PROTOCOLS[name]
    except KeyError:
        raise ProtocolError(
            f"no MPC protocol named {name!r} on this node (known: {', '.join(sorted(PROTOCOLS))}); "
            "upgrade the node or request the job with a known protocol"
        ) from None


async def execute(
    protocol: MpcProtocol, job: JobContext, local_inputs: LocalInputs, transport: Transport
) -> ProtocolResult:
    """Run this party's side; any error other than an abort is first sent to every party as one."""
    try:
        return await protocol.run(job, local_inputs, transport)
    except ProtocolAborted:
        raise
    except Exception as exc:
        own = {str(ref) for ref in job.inputs if ref.org == transport.party}
        await transport.abort(public_abort_reason(exc, transport.party, own))
        raise
