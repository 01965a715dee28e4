"""An evaluation's ROC, KS and lift charts drawn as text for the terminal where a person reads
`job result` or the credit demo (plotext); the PNG files (matplotlib) stay for reports.

Pure: the curves of an evaluation output in (what `model_results` puts in the view as `curves`:
AUC, KS, row and event counts, ROC points, deciles; never a row's score), text out. The charts
share the terminal's width: side by side when each gets at least MIN_CHART_WIDTH columns, else
one under the other. Without colour (a pipe, NO_COLOR) the lines still differ by their marker.
"""

from __future__ import annotations

from typing import Any

MIN_CHART_WIDTH = 40
MAX_WIDTH = 150
HEIGHT = 17


def curves_of(raw: dict[str, Any]) -> dict[str, Any]:
    """The figures the charts need, from an evaluation output's JSON (evaluation.Report)."""
    return {
        "auc": float(raw["auc"]), "ks": float(raw["ks"]), "rows": int(raw["rows"]),
        "events": int(raw["events"]),
        "fpr": [float(v) for v in raw["roc"]["fpr"]], "tpr": [float(v) for v in raw["roc"]["tpr"]],
        "deciles": [int(d["decile"]) for d in raw["deciles"]],
        "lift": [float(d["lift"]) for d in raw["deciles"]],
        "gain": [float(d["gain"]) for d in raw["deciles"]],
    }


def _ks_curve(c: dict[str, Any]) -> tuple[list[float], int]:
    """Share of rows (highest score first) at each ROC point, and the point where KS is."""
    events, rows = c["events"], c["rows"]
    share = [(t * events + f * (rows - events)) / rows for f, t in zip(c["fpr"], c["tpr"],
                                                                        strict=True)]
    gaps = [abs(t - f) for f, t in zip(c["fpr"], c["tpr"], strict=True)]
    return share, max(range(len(gaps)), key=gaps.__getitem__)


def _roc(plt: Any, c: dict[str, Any]) -> None:
    plt.plot(c["fpr"], c["tpr"], marker="braille", color="blue", label=f"AUC {c['auc']:.4f}")
    plt.plot([0, 1], [0, 1], marker="·", color="gray", label="chance")
    plt.title("ROC")
    plt.xlabel("false positive rate")
    plt.xlim(0, 1)
    plt.ylim(0, 1)


def _ks(plt: Any, c: dict[str, Any]) -> None:
    share, at = _ks_curve(c)
    plt.plot(share, c["tpr"], marker="braille", color="blue", label="events")
    plt.plot(share, c["fpr"], marker="•", color="orange", label="non-events")
    plt.plot([share[at], share[at]], [c["fpr"][at], c["tpr"][at]], marker="█", color="red",
             label=f"KS {c['ks']:.4f}")
    plt.title("KS: cumulative shares")
    plt.xlabel("share of rows, highest score first")
    plt.xlim(0, 1)
    plt.ylim(0, 1)


def _lift(plt: Any, c: dict[str, Any]) -> None:
    plt.bar(c["deciles"], c["lift"], color="blue", width=0.4)
    plt.plot(c["deciles"], c["gain"], marker="◆", color="orange", yside="right")
    plt.hline(1.0, color="gray")
    plt.title("lift █, cum. gain ◆ (right)")
    plt.xlabel("decile, highest score first")
    plt.xticks(c["deciles"])
    plt.ylim(0, 1.05, yside="right")


def _chart(draw: Any, curves: dict[str, Any], width: int, color: bool) -> list[str]:
    import plotext as plt

    plt.clf()
    plt.plotsize(width, HEIGHT)
    plt.theme("pro" if color else "clear")
    draw(plt, curves)
    text = plt.build()
    plt.clf()
    if not color:
        text = plt.uncolorize(text)
    return text.splitlines()


def _visible(line: str) -> int:
    import plotext as plt

    return len(plt.uncolorize(line))


def evaluation_charts(curves: dict[str, Any], width: int, *, color: bool = True) -> str:
    """ROC, KS and lift/gain charts in `width` columns, as one block of text."""
    width = max(MIN_CHART_WIDTH, min(width, MAX_WIDTH))
    per_row = 3 if width >= 3 * MIN_CHART_WIDTH else (2 if width >= 2 * MIN_CHART_WIDTH else 1)
    draws = [_roc, _ks, _lift]
    lines: list[str] = []
    for start in range(0, len(draws), per_row):
        group = draws[start:start + per_row]
        each = width // len(group)
        charts = [_chart(draw, curves, each - (1 if len(group) > 1 else 0), color)
                  for draw in group]
        for k in range(max(len(c) for c in charts)):
            cells = [c[k] if k < len(c) else "" for c in charts]
            padded = [cell + " " * max(0, each - _visible(cell)) for cell in cells[:-1]]
            lines.append(("".join(padded) + cells[-1]).rstrip())
    return "\n".join(lines)
