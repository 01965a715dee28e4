"""Modelling outputs as a person reads them (`job result`): the IV ranking, a member's bin tables,
its model part, the evaluation's AUC/KS and deciles (and the curves its charts are drawn from), a
scorecard's points (also as CSV).

Pure: bytes of a delivered output in, a `ModelView` out; the caller reads and checks the file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from alliance.app import terminal_plots

MODELLING = ("binning", "lr_train", "lr_predict", "scorecard", "gbdt_train", "gbdt_predict")
VIEWS = ("iv", "bins", "model", "evaluation", "scorecard")


@dataclass(frozen=True)
class ModelView:
    title: str
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]
    summary: dict[str, Any] = field(default_factory=dict)
    """Figures shown above the table (AUC, KS, intercept, base points)."""
    csv: str | None = None
    """The output as CSV (scorecards), written to a file by `job result`."""
    curves: dict[str, Any] | None = None
    """An evaluation's ROC points and deciles, drawn as charts (alliance/app/terminal_plots.py)."""

    def to_dict(self) -> dict[str, Any]:
        out = {"title": self.title, "columns": list(self.columns),
               "rows": [list(r) for r in self.rows], "summary": self.summary}
        if self.curves is not None:
            out["curves"] = self.curves
        return out


def has_view(protocol: str, name: str) -> bool:
    return protocol in MODELLING and name.split(".", 1)[0] in VIEWS


def view(name: str, data: bytes) -> ModelView:
    """The view of modelling output `name` (`iv`, `bins.<org>`, `model.<org>`, `evaluation`,
    `scorecard.<org>`)."""
    base = name.split(".", 1)[0]
    raw = json.loads(data)
    if base == "iv":
        ranked = sorted(raw["iv"].items(), key=lambda kv: -float(kv[1]))
        return ModelView("information value by feature", ("feature", "iv", "strength"),
                         [(f, _r(v), _strength(float(v))) for f, v in ranked])
    if base == "bins":
        rows = [(t["feature"], b["bin"], b["count"], b["events"], _r(b["woe"]), _r(b["bin_iv"]))
                for t in raw["tables"] for b in t["bins"]]
        return ModelView(f"bin tables ({name})",
                         ("feature", "bin", "rows", "events", "woe", "bin iv"), rows,
                         {t["feature"]: f"IV {_r(t['iv'])}" for t in raw["tables"]})
    if base == "model" and str(raw.get("kind", "")).startswith("gbdt."):
        return _boosted(name, raw)
    if base == "model":
        summary: dict[str, Any] = {"training job": raw["job_id"], "owner": raw["owner"],
                                   "epochs run": raw["epochs_run"]}
        if "intercept" in raw:
            summary["intercept"] = _r(raw["intercept"])
        if "held_out" in raw:
            held = raw["held_out"]
            summary["validation rows held out"] = round(int(held["rows"])
                                                        * float(held["fraction"]))
        return ModelView(f"model part ({name})", ("feature", "coefficient"),
                         [(f, _r(c)) for f, c in zip(raw["features"], raw["coefficients"],
                                                     strict=True)], summary)
    if base == "evaluation":
        summary = {"rows": raw["rows"], "events": raw["events"], "AUC": _r(raw["auc"]),
                   "KS": _r(raw["ks"]), f"confusion at {_r(raw['threshold'])}": raw["confusion"]}
        keys = list(raw["deciles"][0]) if raw["deciles"] else []
        return ModelView("lift and gain by decile", tuple(keys),
                         [tuple(_count_or_rate(d[k]) for k in keys) for d in raw["deciles"]],
                         summary, curves=terminal_plots.curves_of(raw))
    if base == "scorecard":
        from node.mpc.modelling.scorecard import to_csv

        summary = {"model job": raw["model_job"], "pdo": raw["pdo"],
                   "base score": raw["base_score"], "base odds": raw["base_odds"]}
        if "base_points" in raw:
            summary["base points"] = _r(raw["base_points"])
        return ModelView(f"scorecard ({name})", ("feature", "bin", "woe", "points"),
                         [(r["feature"], r["bin"], _r(r["woe"]), _r(r["points"]))
                          for r in raw["bins"]], summary, csv=to_csv(raw))
    raise ValueError(f"{name} is not a modelling output with a view")


def _boosted(name: str, raw: dict[str, Any]) -> ModelView:
    """A part of a boosted model: its features' importance (gain, splits), the trees' count at
    the label holder, the splits' count at a feature owner."""
    summary: dict[str, Any] = {"training job": raw["job_id"], "owner": raw["owner"]}
    if raw["kind"] == "gbdt.active":
        summary.update({"objective": raw["objective"], "trees": len(raw["trees"]),
                        "trees grown": raw["trees_run"]})
    else:
        summary.update({"label holder (trees)": raw["holder"], "own splits": len(raw["splits"])})
    ranked = sorted(raw["importance"].items(), key=lambda kv: -float(kv[1]["gain"]))
    return ModelView(f"boosted model part ({name}): feature importance",
                     ("feature", "total gain", "splits"),
                     [(f, _r(v["gain"]), v["splits"]) for f, v in ranked], summary)


def _r(value: Any) -> str:
    return f"{float(value):.4f}"


def _count_or_rate(value: Any) -> Any:
    number = float(value)
    return int(number) if number.is_integer() else f"{number:.4f}"


def _strength(iv: float) -> str:
    """The usual reading of an IV (Siddiqi)."""
    if iv < 0.02:
        return "useless"
    if iv < 0.1:
        return "weak"
    if iv < 0.3:
        return "medium"
    return "strong" if iv < 0.5 else "suspicious (check for leakage)"
