"""`gbdt_predict`: joint scores of a split boosted model (a gbdt_train job's parts); scores to
the named recipients only, an evaluation report to the label holder.

Each feature owner P bins its columns with the bins stored in its own part and, for each of its
splits (tree, node, feature, bin), tells the label holder A which rows go left (one bit per row);
the thresholds never leave P. A routes every row through every tree with its own splits and those
bits, adds the leaf values to the base margin, and sends the scores to the other recipients of
`scores`. Before anything else the parties check that their parts come from one training job.

Security model: semi-honest, no dealer; SecureBoost's prediction. A learns, for every row and
every split of P's, which side the row goes (not the threshold), and the scores; P learns nothing
unless it receives `scores`. Receivers of `scores` learn the score of every aligned row; A, if it
receives `evaluation`, the report (AUC, KS, deciles, confusion at `threshold`, a ROC of <= 201
points). Public: the row count, each part's number of splits.

Outputs: `scores` (any parties): .npy float64 in the aligned row order (probabilities for a
logistic model, predictions for squared error), identical bytes at every recipient; `evaluation`
(the label holder alone, logistic models): canonical JSON (evaluation.Report).
"""

from __future__ import annotations

import numpy as np

from alliance.canonical import canonical_json, loads
from alliance.errors import EncodingError
from node.errors import ProtocolError
from node.mpc.modelling import evaluation, features, preprocessing, session
from node.mpc.modelling.gbdt import binned
from node.mpc.modelling.gbdt.model import ActivePart, PassivePart, part_kind, route
from node.mpc.modelling.gbdt.params import GbdtPredictParams, parse
from node.mpc.protocol import JobContext, LocalInputs, ProtocolResult
from node.mpc.stats import npy_bytes
from node.mpc.transport import Transport

NAME = "gbdt_predict"
STEP_MODEL = "gbdt.predict.model"
STEP_BITS = "gbdt.predict.bits"
STEP_SCORES = "gbdt.predict.scores"


class GbdtPredictProtocol(session.GuardedProtocol):
    """The `gbdt_predict` protocol (see the module docstring)."""

    name = NAME

    async def _run(self, job: JobContext, local_inputs: LocalInputs, transport: Transport
                   ) -> ProtocolResult:
        params = parse(GbdtPredictParams, NAME, job.parameters)
        ses = session.roles(job, transport, params.label, need_dealer=False,
                            holder=params.holder)
        me, holder = ses.me, ses.label_holder
        wants_eval = bool(job.recipients("evaluation"))
        if wants_eval and (tuple(job.recipients("evaluation")) != (holder,) or not params.label):
            raise ProtocolError(f"output evaluation goes to the label holder {holder} alone and "
                                "needs the label parameter; re-request the job")
        receivers = sorted(job.recipients("scores"))
        if not receivers and not wants_eval:
            raise ProtocolError(f"job {job.job_id} names no recipient for scores or evaluation")
        if me not in ses.data_parties:
            return await _receive(job, ses, transport)
        digest = session.local_columns(ses, job, local_inputs, params.label, params.ids,
                                       params.normalize)
        await session.agree_rows(ses, transport, digest)
        raw = features.reserved_bytes(local_inputs, features.MODEL_KEY)
        if raw is None:
            raise ProtocolError(f"{me} has no model part for this prediction (local input "
                                f"{features.MODEL_KEY!r}: its model.{me} output of the training "
                                "job)")
        kind = part_kind(raw)
        recipe = preprocessing.parse_recipe(params.recipe)
        if me != holder:
            if kind != "gbdt.passive":
                raise ProtocolError(f"{me}'s model part is the label holder's; {holder} holds "
                                    "the trees: name the training's label holder as holder")
            await _send_bits(ses, transport, PassivePart.from_bytes(raw), recipe)
            return await _receive(job, ses, transport) if me in receivers else ProtocolResult(
                summary={"rows": ses.rows})
        if kind != "gbdt.active":
            raise ProtocolError(f"{me}'s model part is a feature owner's, not the trees; name "
                                "the training's label holder as holder")
        part = ActivePart.from_bytes(raw)
        if wants_eval and part.objective != "logistic":
            raise ProtocolError("output evaluation needs a logistic model; this one is "
                                f"{part.objective}: request scores only")
        scores = await _score(ses, transport, part, recipe)
        data = npy_bytes(scores)
        outputs: dict[str, bytes] = {}
        for r in receivers:
            if r != me:
                await transport.send(r, STEP_SCORES, "scores", data)
        if me in receivers:
            outputs["scores"] = data
        if wants_eval:
            assert ses.label is not None
            outputs["evaluation"] = evaluation.report(ses.label, scores,
                                                      params.threshold).to_bytes()
        return ProtocolResult(outputs=outputs, summary={"rows": ses.rows,
                                                        "trees": len(part.trees)})


async def _send_bits(ses: session.Session, transport: Transport, part: PassivePart,
                     recipe: preprocessing.Recipe) -> None:
    """A feature owner: its part's training job, then one row of bits per split of its own."""
    holder = ses.label_holder
    if part.holder != holder or part.owner != ses.me:
        raise ProtocolError(f"{ses.me}'s model part belongs to {part.owner} of a model held by "
                            f"{part.holder}, not to this job's parties")
    bins_t = binned.apply_bins(part.features, ses.columns, recipe, ses.rows)
    keys = sorted(part.splits)
    bits = np.zeros((len(keys), (ses.rows + 7) // 8), dtype=np.uint8)
    for i, key in enumerate(keys):
        f, b = part.splits[key]
        bits[i] = np.packbits(bins_t[f] <= b)
    await transport.send(holder, STEP_MODEL, "model", canonical_json(
        {"job_id": part.job_id, "splits": len(keys)}))
    await transport.send_array(holder, STEP_BITS, "bits", bits)


async def _score(ses: session.Session, transport: Transport, part: ActivePart,
                 recipe: preprocessing.Recipe) -> np.ndarray:
    """The label holder: route every row with its own splits and the owners' bits."""
    passives = sorted(set(part.parties) - {ses.me})
    if passives != list(ses.feature_owners) or part.owner != ses.me:
        raise ProtocolError(f"the model was trained between {', '.join(part.parties)}; this "
                            f"job is between {', '.join(ses.data_parties)}")
    bins_t = binned.apply_bins(part.features, ses.columns, recipe, ses.rows)
    owned = {p: sorted((t, n) for t, tree in enumerate(part.trees)
                       for n, s in tree.splits.items() if s.owner == p) for p in passives}
    bits: dict[str, dict[tuple[int, int], np.ndarray]] = {}
    for p in passives:
        try:
            head = loads(await transport.recv(p, STEP_MODEL, "model"))
            job_id, count = str(head["job_id"]), int(head["splits"])
        except (EncodingError, KeyError, TypeError, ValueError):
            raise ProtocolError(f"{p} sent a malformed model header") from None
        if job_id != part.job_id:
            raise ProtocolError(f"{p}'s model part comes from job {job_id}, the trees from "
                                f"{part.job_id}; give every party its part of one training job")
        got = await transport.recv_array(p, STEP_BITS, "bits")
        if got.dtype != np.uint8 or got.shape != (len(owned[p]), (ses.rows + 7) // 8) or (
                count != len(owned[p])):
            raise ProtocolError(f"{p} sent {list(got.shape)} split bits; the trees hold "
                                f"{len(owned[p])} splits of {p}")
        bits[p] = dict(zip(owned[p], got, strict=True))

    def decide(t: int, node: int, members: np.ndarray) -> np.ndarray:
        s = part.trees[t].splits[node]
        if s.owner == ses.me:
            return bins_t[s.feature, members] <= s.bin
        return np.unpackbits(bits[s.owner][(t, node)], count=ses.rows).astype(bool)[members]

    return part.scores(route(part.trees, ses.rows, decide))


async def _receive(job: JobContext, ses: session.Session, transport: Transport
                   ) -> ProtocolResult:
    """A recipient of `scores` other than the label holder."""
    if ses.me not in job.recipients("scores"):
        return ProtocolResult(summary={"role": "observer"})
    data = await transport.recv(ses.label_holder, STEP_SCORES, "scores")
    return ProtocolResult(outputs={"scores": data}, summary={"rows": ses.rows})
