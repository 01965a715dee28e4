"""`lr_predict`: joint scores of a split logistic regression; scores to the named recipients only,
and an evaluation report to the label holder.

Each data party computes its partial score u_j = X_j w_j in the clear from its own model part
(local input `model`: its `model.<org>` output of an lr_train job; the intercept holder adds the
intercept). For each receiver r (every recipient of `scores`, and the label holder when
`evaluation` is requested) every other data party sends enc(u_j) plus a zero-sharing mask agreed
pairwise with the other senders (fixed point 2^-20 in Z_2^64), so r learns sum_j u_j = z and, when
three or more parties send, no single u_j. With two data parties a receiver that holds data learns
the other's partial score by subtraction — inherent in receiving the score.

Security model: semi-honest, no dealer. Learned: receivers of `scores` the probability
sigmoid(z) of every aligned row (exact logistic, the model's own sigmoid at training time was t1);
the label holder, if it receives `evaluation`, the scores of the evaluated rows as well (it needs
them with its labels) and the report: AUC, KS, lift and gain by decile, the confusion matrix at
`threshold`, and a ROC curve of <= 201 points. Others learn nothing beyond the row count.

Features: each party transforms its columns as its training did: the WOE bins of the binning
job, or the training's recipe (the job must carry the same recipe; refused otherwise) with the
figures fitted on the training rows and kept in the model part (fill value, clip bounds, mean and
standard deviation; one-hot categories), never figures of the rows being scored.

Rows scored: every aligned row (`rows=all`), or with `rows=validation` only the rows the training
job held out for its validation split (an out-of-sample evaluation): each data party takes the
split from its own model part (rows, fraction, seed of the training) and refuses unless this job's
rows are the training's (same count and alignment digest).

Outputs: `scores` (any parties): .npy float64 probabilities in the aligned row order (of the
scored rows), identical bytes at every recipient; `evaluation` (the label holder alone, needs
`label`): canonical JSON (evaluation.Report). Parameters: params.LrPredictParams.
"""

from __future__ import annotations

import itertools

import numpy as np

from node.errors import ProtocolError
from node.mpc.modelling import evaluation, features, logistic, preprocessing, prg, session
from node.mpc.modelling.logistic import ModelPart
from node.mpc.modelling.params import LrPredictParams, parse
from node.mpc.protocol import JobContext, LocalInputs, ProtocolResult
from node.mpc.stats import npy_bytes
from node.mpc.transport import Transport

NAME = "lr_predict"
SCALE_BITS = 20
STEP_PAIR = "predict.pair"
STEP_SCORE = "predict.score"


def partial_scores(part: ModelPart, feats: dict[str, np.ndarray], rows: int) -> np.ndarray:
    """u_j = X_j w_j (+ the intercept where the part holds it); checks the features match."""
    if list(feats) != part.features:
        raise ProtocolError(
            f"the model part of {part.owner} was trained on features {part.features}, but this "
            f"job gives {list(feats)}; request the prediction on the training job's columns"
        )
    u = features.matrix(feats, rows) @ np.array(part.coefficients, dtype=np.float64)
    return u + (part.intercept or 0.0)


def held_out_rows(part: ModelPart, rows: int, alignment_digest: str) -> np.ndarray:
    """The training's validation rows (aligned order), checked to be the training's rows."""
    held = part.held_out
    if held is None:
        raise ProtocolError(
            f"training job {part.job_id} held out no rows (validation_fraction=0), so there is "
            "no validation split to score; request the prediction with --param rows=all"
        )
    if (held.rows, held.alignment) != (rows, alignment_digest):
        raise ProtocolError(
            f"rows=validation scores the rows training job {part.job_id} held out, but this "
            f"job's {rows} rows are not the {held.rows} rows it was trained on; align the "
            "prediction by the training job's alignment_job"
        )
    return held.validation_rows()


class LrPredictProtocol:
    """The `lr_predict` protocol (see the module docstring)."""

    name = NAME

    async def run(self, job: JobContext, local_inputs: LocalInputs, transport: Transport
                  ) -> ProtocolResult:
        with np.errstate(over="ignore"):
            return await session.guard(transport, job, self._run(job, local_inputs, transport))

    async def _run(self, job: JobContext, local_inputs: LocalInputs, transport: Transport
                   ) -> ProtocolResult:
        params = parse(LrPredictParams, NAME, job.parameters)
        ses = session.roles(job, transport, params.label, need_dealer=False,
                            holder=params.holder)
        me = ses.me
        wants_eval = bool(job.recipients("evaluation"))
        if wants_eval and (tuple(job.recipients("evaluation")) != (ses.label_holder,)
                           or not params.label):
            raise ProtocolError(
                f"output evaluation goes to the label holder {ses.label_holder} alone and needs "
                "the label parameter; re-request the job"
            )
        receivers = sorted({*job.recipients("scores"), *([ses.label_holder] if wants_eval
                                                         else [])})
        if not receivers:
            raise ProtocolError(f"job {job.job_id} names no recipient for scores or evaluation")
        u: np.ndarray | None = None
        if me in ses.data_parties:
            digest = session.local_columns(ses, job, local_inputs, params.label, params.ids,
                                           params.normalize)
            await session.agree_rows(ses, transport, digest)
            raw = features.reserved_bytes(local_inputs, features.MODEL_KEY)
            if raw is None:
                raise ProtocolError(
                    f"{me} has no model part for this prediction (local input "
                    f"{features.MODEL_KEY!r}: its model.{me} output of the training job)"
                )
            part = ModelPart.from_bytes(raw)
            if (part.intercept is not None) != (me == ses.label_holder):
                raise ProtocolError(
                    f"the intercept belongs to {ses.label_holder}'s model part; {me}'s part "
                    f"{'holds' if part.intercept is not None else 'lacks'} one"
                )
            recipe = preprocessing.parse_recipe(params.recipe)
            if part.recipe and recipe.fingerprint() != part.recipe:
                raise ProtocolError(
                    f"this job's recipe ({recipe.fingerprint()[:19]}) is not the one training "
                    f"job {part.job_id} ran ({part.recipe[:19]}); request the prediction with "
                    "the training job's recipe parameter"
                )
            cats = features.model_categories(part.features, ses.columns)
            fitted = {k: preprocessing.Fitted.from_json(v)
                      for k, v in (part.fitted or {}).items()}
            u = partial_scores(part, features.build(ses.columns, recipe, local_inputs, cats,
                                                    fitted), ses.rows)
            if params.rows == "validation":
                kept = held_out_rows(part, ses.rows, digest)
                u = u[kept]
                if ses.label is not None:
                    ses.label = ses.label[kept]
        totals = await _deliver(ses, transport, receivers, u)
        outputs: dict[str, bytes] = {}
        if totals is not None:
            probabilities = logistic.sigmoid(logistic.decode(totals, SCALE_BITS))
            if me in job.recipients("scores"):
                outputs["scores"] = npy_bytes(probabilities)
            if wants_eval and me == ses.label_holder:
                assert ses.label is not None
                rep = evaluation.report(ses.label, probabilities, params.threshold)
                outputs["evaluation"] = rep.to_bytes()
        scored = ses.rows if totals is None else len(totals)
        return ProtocolResult(outputs=outputs, summary={"rows": scored})


async def _deliver(ses: session.Session, transport: Transport, receivers: list[str],
                   u: np.ndarray | None) -> np.ndarray | None:
    """Every receiver gets sum_j enc(u_j); returns this party's total if it is a receiver."""
    me = ses.me
    total: np.ndarray | None = None
    words = None if u is None else logistic.encode(u, SCALE_BITS)
    for r in receivers:
        senders = [p for p in ses.data_parties if p != r]
        if me in senders:
            assert words is not None
            share = words.copy()
            for a, b in itertools.combinations(senders, 2):
                if me == a:
                    seed = prg.new_seed()
                    await transport.send(b, STEP_PAIR, r, seed)
                    share += prg.words(seed, 0, len(share))
                elif me == b:
                    share -= prg.words(await transport.recv(a, STEP_PAIR, r), 0, len(share))
            await transport.send_array(r, STEP_SCORE, "u", share)
        if me == r:
            acc = None if words is None else words.copy()
            for peer in senders:
                got = await transport.recv_array(peer, STEP_SCORE, "u")
                if got.dtype != np.uint64 or got.ndim != 1 or (
                        acc is not None and got.shape != acc.shape):
                    raise ProtocolError(f"{peer} sent partial scores of {list(got.shape)}")
                acc = got.copy() if acc is None else acc + got
            total = acc
    return total
