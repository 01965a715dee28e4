"""Evaluation of scores against labels, in the clear at the label holder: AUC, KS, lift and gain
by decile, the confusion matrix at a threshold, and ROC / KS / lift plots as PNG (matplotlib).

AUC is the Mann-Whitney statistic with ties counted one half (scikit-learn's roc_auc_score); KS is
max |TPR - FPR| over all thresholds (the largest gap between the two classes' score CDFs).
Deciles: rows sorted by score, highest first, cut into 10 groups as equal as possible; lift =
the group's event rate / the overall event rate; gain = cumulative share of all events.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import numpy as np

from alliance.canonical import canonical_json, loads


def roc(y: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(FPR, TPR) at every distinct threshold, from (0, 0) to (1, 1)."""
    order = np.argsort(-scores, kind="mergesort")
    s, t = scores[order], y[order].astype(np.float64)
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]
    tps = np.cumsum(t)[last]
    fps = (last + 1) - tps
    pos, neg = t.sum(), len(t) - t.sum()
    return np.r_[0.0, fps / neg], np.r_[0.0, tps / pos]


def auc(y: np.ndarray, scores: np.ndarray) -> float:
    fpr, tpr = roc(y, scores)
    return float(np.trapezoid(tpr, fpr))


def ks(y: np.ndarray, scores: np.ndarray) -> float:
    fpr, tpr = roc(y, scores)
    return float(np.max(np.abs(tpr - fpr)))


def deciles(y: np.ndarray, scores: np.ndarray, groups: int = 10) -> list[dict[str, float]]:
    order = np.argsort(-scores, kind="mergesort")
    t = y[order].astype(np.float64)
    base = t.mean()
    total = t.sum()
    out, cumulative = [], 0.0
    for k, part in enumerate(np.array_split(np.arange(len(t)), groups)):
        events = float(t[part].sum())
        cumulative += events
        out.append({"decile": k + 1, "rows": len(part), "events": events,
                    "event_rate": events / len(part) if len(part) else 0.0,
                    "lift": (events / len(part)) / base if len(part) and base else 0.0,
                    "gain": cumulative / total if total else 0.0})
    return out


def confusion(y: np.ndarray, probabilities: np.ndarray, threshold: float) -> dict[str, int]:
    predicted = probabilities >= threshold
    actual = y.astype(bool)
    return {"tp": int((predicted & actual).sum()), "fp": int((predicted & ~actual).sum()),
            "tn": int((~predicted & ~actual).sum()), "fn": int((~predicted & actual).sum())}


@dataclass
class Report:
    rows: int
    events: int
    auc: float
    ks: float
    deciles: list[dict[str, float]]
    threshold: float
    confusion: dict[str, int]
    roc_fpr: list[float]
    roc_tpr: list[float]
    """The ROC curve at <= ROC_POINTS thresholds (enough to draw it; never a row's score)."""

    def to_bytes(self) -> bytes:
        def dec(x: float) -> str:
            return repr(float(x))

        return canonical_json({
            "rows": self.rows, "events": self.events, "auc": dec(self.auc), "ks": dec(self.ks),
            "threshold": dec(self.threshold), "confusion": self.confusion,
            "deciles": [{k: (v if k in ("decile", "rows") else dec(v)) for k, v in d.items()}
                        for d in self.deciles],
            "roc": {"fpr": [dec(v) for v in self.roc_fpr], "tpr": [dec(v) for v in self.roc_tpr]},
        })

    @classmethod
    def from_bytes(cls, data: bytes) -> Report:
        raw = loads(data)
        return cls(
            rows=int(raw["rows"]), events=int(raw["events"]), auc=float(raw["auc"]),
            ks=float(raw["ks"]), threshold=float(raw["threshold"]),
            confusion={k: int(v) for k, v in raw["confusion"].items()},
            deciles=[{k: (int(v) if k in ("decile", "rows") else float(v)) for k, v in d.items()}
                     for d in raw["deciles"]],
            roc_fpr=[float(v) for v in raw["roc"]["fpr"]],
            roc_tpr=[float(v) for v in raw["roc"]["tpr"]],
        )


ROC_POINTS = 201


def report(y: np.ndarray, probabilities: np.ndarray, threshold: float = 0.5) -> Report:
    fpr, tpr = roc(y, probabilities)
    keep = np.unique(np.linspace(0, len(fpr) - 1, min(ROC_POINTS, len(fpr))).round().astype(int))
    return Report(len(y), int(y.sum()), auc(y, probabilities), ks(y, probabilities),
                  deciles(y, probabilities), threshold, confusion(y, probabilities, threshold),
                  fpr[keep].tolist(), tpr[keep].tolist())


def plots(rep: Report) -> dict[str, bytes]:
    """ROC, KS and lift charts as PNG bytes, drawn from a report alone (matplotlib, Agg)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fpr, tpr = np.array(rep.roc_fpr), np.array(rep.roc_tpr)
    out: dict[str, bytes] = {}

    def save(fig: Any, name: str) -> None:
        buffer = io.BytesIO()
        fig.tight_layout()
        fig.savefig(buffer, format="png", dpi=100)
        plt.close(fig)
        out[name] = buffer.getvalue()

    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot(fpr, tpr, label=f"AUC = {rep.auc:.4f}")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC")
    ax.legend(loc="lower right")
    save(fig, "roc.png")

    events, rows = rep.events, rep.rows
    population = (tpr * events + fpr * (rows - events)) / rows
    gap = np.abs(tpr - fpr)
    at = int(np.argmax(gap))
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(population, tpr, label="events (cumulative)")
    ax.plot(population, fpr, label="non-events (cumulative)")
    ax.vlines(population[at], fpr[at], tpr[at], colors="red", label=f"KS = {rep.ks:.4f}")
    ax.set(xlabel="share of rows, highest score first", ylabel="cumulative share", title="KS")
    ax.legend(loc="lower right")
    save(fig, "ks.png")

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.bar([d["decile"] for d in rep.deciles], [d["lift"] for d in rep.deciles], label="lift")
    ax.axhline(1.0, color="grey", linestyle="--")
    ax.set(xlabel="decile (highest score first)", ylabel="lift", title="Lift and gain by decile")
    gain = ax.twinx()
    gain.plot([d["decile"] for d in rep.deciles], [d["gain"] for d in rep.deciles],
              color="tab:orange", marker="o", label="cumulative gain")
    gain.set(ylabel="cumulative gain", ylim=(0, 1.05))
    gain.legend(loc="center right")
    save(fig, "lift.png")
    return out
