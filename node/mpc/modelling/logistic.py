"""The plaintext maths of secure logistic regression: the sigmoid approximation, the schedule of
mini-batches and learning rates, fixed-point encoding of residual parts, model parts as JSON.

Sigmoid approximation `t1` (first-order Taylor series at 0, as in SecretFlow's SS-SGD default and
FATE's Hetero-LR): sigma(z) ~ 0.5 + z/4. It makes the residual e = sigma(z) - y linear in the
parties' partial scores, so no secure multiplication is needed on the residual itself. Its error
|sigma(z) - (0.5 + z/4)| is below `t1_error_bound(r)` for |z| <= r (0.0189 at r = 1, 0.119 at
r = 2, growing as |z|/4 beyond); the gradient it follows is that of the squared loss
2(0.5 + z/4 - y)^2, whose minimiser ranks rows much as the logistic fit does (the tests and the
benchmark measure the AUC gap to scikit-learn's LogisticRegression).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from alliance.canonical import canonical_json, loads
from node.errors import ProtocolError
from node.mpc.modelling.params import LrTrainParams


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def t1(z: np.ndarray) -> np.ndarray:
    return 0.5 + z / 4.0


def t1_error_bound(radius: float) -> float:
    """max |sigmoid(z) - t1(z)| over |z| <= radius (the error grows with |z|)."""
    return abs(0.5 + radius / 4.0 - 1.0 / (1.0 + math.exp(-radius)))


def learning_rate(params: LrTrainParams, epoch: int) -> float:
    if params.schedule == "invscaling":
        return params.learning_rate / (1.0 + params.decay * epoch)
    if params.schedule == "step":
        return params.learning_rate * params.decay ** epoch
    return params.learning_rate


def split_rows(rows: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Public row permutation: (training rows, validation rows)."""
    perm = np.random.default_rng(seed).permutation(rows)
    n_val = round(rows * fraction)
    return perm[:rows - n_val], perm[rows - n_val:]


@dataclass(frozen=True)
class Batch:
    index: int  # global position, for the dealer's streams
    epoch: int
    start: int
    stop: int


def schedule(n_train: int, batch_size: int, epochs: int, seed: int) -> list[Batch]:
    """Every mini-batch of every epoch in order; the batch order is reshuffled each epoch. A short
    last batch joins the one before it, so every batch has at least `batch_size` rows (when there
    are that many): a gradient over fewer rows than a party's features would reveal the rows'
    residuals to it."""
    bounds = [(start, min(start + batch_size, n_train)) for start in range(0, n_train, batch_size)]
    if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] < batch_size:
        bounds[-2:] = [(bounds[-2][0], bounds[-1][1])]
    out: list[Batch] = []
    for epoch in range(epochs):
        order = np.random.default_rng([seed, epoch + 1]).permutation(len(bounds))
        for k in order:
            start, stop = bounds[int(k)]
            out.append(Batch(len(out), epoch, start, stop))
    return out


def encode(values: np.ndarray, scale_bits: int) -> np.ndarray:
    """Fixed point in Z_2^64 (two's complement)."""
    scaled = np.rint(np.asarray(values, dtype=np.float64) * float(1 << scale_bits))
    if scaled.size and np.abs(scaled).max() >= 2.0**62:
        raise ProtocolError("a value is beyond the fixed-point range; standardise the features")
    return scaled.astype(np.int64).view(np.uint64)


def decode(words: np.ndarray, scale_bits: int) -> np.ndarray:
    return np.asarray(words, dtype=np.uint64).view(np.int64).astype(np.float64) / float(
        1 << scale_bits)


@dataclass(frozen=True)
class HeldOut:
    """A training run's validation split: `split_rows(rows, fraction, seed)` over the rows
    aligned by the intersection whose digest is `alignment`."""

    rows: int
    fraction: float
    seed: int
    alignment: str

    def validation_rows(self) -> np.ndarray:
        """The held-out rows, in the aligned order."""
        return np.sort(split_rows(self.rows, self.fraction, self.seed)[1])

    def to_json(self) -> dict[str, object]:
        return {"rows": self.rows, "fraction": repr(float(self.fraction)), "seed": self.seed,
                "alignment": self.alignment}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> HeldOut:
        return cls(int(raw["rows"]), float(str(raw["fraction"])), int(raw["seed"]),
                   str(raw["alignment"]))


@dataclass
class ModelPart:
    """One party's part of a split model: its features' coefficients (and the intercept at the
    label holder)."""

    job_id: str
    owner: str
    features: list[str]
    coefficients: list[float]
    intercept: float | None = None
    sigmoid: str = "t1"
    recipe: str = ""
    epochs_run: int = 0
    best_epoch: int = 0
    validation_loss: list[float] | None = None
    held_out: HeldOut | None = None
    """The training's validation split, when it kept one: what `lr_predict rows=validation`
    needs to score exactly those rows."""
    fitted: dict[str, dict[str, Any]] | None = None
    """The recipe's figures fitted on the owner's training rows, by column (preprocessing.Fitted
    as JSON): prediction transforms new rows with them. From the owner's rows, kept by it alone."""

    def to_bytes(self) -> bytes:
        data: dict[str, object] = {
            "model": "logistic_regression", "job_id": self.job_id, "owner": self.owner,
            "features": self.features, "coefficients": [repr(float(c)) for c in self.coefficients],
            "sigmoid": self.sigmoid, "recipe": self.recipe, "epochs_run": self.epochs_run,
            "best_epoch": self.best_epoch,
        }
        if self.intercept is not None:
            data["intercept"] = repr(float(self.intercept))
        if self.validation_loss is not None:
            data["validation_loss"] = [repr(float(v)) for v in self.validation_loss]
        if self.held_out is not None:
            data["held_out"] = self.held_out.to_json()
        if self.fitted:
            data["fitted"] = self.fitted
        return canonical_json(data)

    @classmethod
    def from_bytes(cls, data: bytes) -> ModelPart:
        try:
            raw = loads(data)
            return cls(
                job_id=str(raw["job_id"]), owner=str(raw["owner"]),
                features=[str(f) for f in raw["features"]],
                coefficients=[float(c) for c in raw["coefficients"]],
                intercept=float(raw["intercept"]) if "intercept" in raw else None,
                sigmoid=str(raw["sigmoid"]), recipe=str(raw.get("recipe", "")),
                epochs_run=int(raw.get("epochs_run", 0)), best_epoch=int(raw.get("best_epoch", 0)),
                validation_loss=([float(v) for v in raw["validation_loss"]]
                                 if "validation_loss" in raw else None),
                held_out=HeldOut.from_json(raw["held_out"]) if "held_out" in raw else None,
                fitted=({str(k): dict(v) for k, v in raw["fitted"].items()}
                        if "fitted" in raw else None),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ProtocolError(f"the model part given is malformed ({exc})") from None


def reference_sgd(x: np.ndarray, y: np.ndarray, params: LrTrainParams
                  ) -> tuple[np.ndarray, float, list[float]]:
    """The same training in the clear, in floating point: the oracle of the secure run.

    Same split, batch schedule, t1 residual, class weights, L2, schedule and early stopping (on
    the unweighted validation loss); returns
    (coefficients, intercept, validation losses)."""
    train, val = split_rows(len(y), params.validation_fraction, params.seed)
    xt, yt, xv, yv = x[train], y[train].astype(float), x[val], y[val].astype(float)
    weights = params.weights()
    w, b0 = np.zeros(x.shape[1]), 0.0
    best = (w.copy(), b0)
    best_loss, stale, losses = np.inf, 0, []
    batches = schedule(len(train), params.batch_size, params.epochs, params.seed)
    for epoch in range(params.epochs):
        rate = learning_rate(params, epoch)
        for b in (q for q in batches if q.epoch == epoch):
            rows = slice(b.start, b.stop)
            e = t1(xt[rows] @ w + b0) - yt[rows]
            if weights is not None:
                e = e * np.where(yt[rows] == 1, weights[1], weights[0])
            g = xt[rows].T @ e / len(e) + params.l2 * w
            b0 -= rate * e.sum() / len(e)
            w = w - rate * g
        if not len(val):
            best = (w.copy(), b0)
            continue
        loss = float(np.mean((t1(xv @ w + b0) - yv) ** 2))
        losses.append(loss)
        if loss < best_loss - params.tol:
            best, best_loss, stale = (w.copy(), b0), loss, 0
        else:
            stale += 1
            if stale >= params.patience:
                break
    return best[0], best[1], losses
