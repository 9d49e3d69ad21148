"""The suite report's figures: bars with 95% CI whiskers, and held-out learning curves with bands.

Curves: at each evaluation point, the IQM of the arm's runs and its bootstrap CI as a band, at the mean env step
of that point (runs evaluate after whole iterations, so a point's env step varies a little across runs).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from agents.bench import stats
from agents.bench.results import METRICS

BAR_METRICS = ("auc", "final_success", "final_success_greedy")


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def bars(report: dict[str, Any], out: Path) -> Path:
    """One row per task, one panel per metric: each arm's IQM as a bar, its 95% CI as a whisker."""
    plt = _plt()
    tasks = [(name, t) for name, t in report["tasks"].items() if t["arms"]]
    fig, axes = plt.subplots(len(tasks), len(BAR_METRICS), figsize=(4.2 * len(BAR_METRICS), 3.2 * len(tasks)),
                             squeeze=False)
    for row, (tname, task) in zip(axes, tasks, strict=True):
        names = list(task["arms"])
        for ax, key in zip(row, BAR_METRICS, strict=True):
            ests = [task["arms"][a]["metrics"][key] for a in names]
            y = np.array([e["iqm"] if e["iqm"] is not None else np.nan for e in ests])
            lo = np.array([y[i] - e["ci"][0] if e["ci"] else 0.0 for i, e in enumerate(ests)])
            hi = np.array([e["ci"][1] - y[i] if e["ci"] else 0.0 for i, e in enumerate(ests)])
            ax.bar(range(len(names)), y, yerr=np.vstack([lo, hi]), capsize=3, color="#7a9cc6")
            ax.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=7)
            ax.set_ylim(0, 1.05)
            ax.set_title(f"{tname}: {METRICS[key][0]}", fontsize=9)
            ax.grid(axis="y", alpha=0.3)
    fig.suptitle(f"{report['suite']}: IQM over seeds, 95% bootstrap CI", fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return Path(out)


def curves(report: dict[str, Any], out: Path) -> Path:
    """One panel per task: held-out sampled success against env steps, per arm, IQM line and CI band."""
    plt = _plt()
    tasks = [(name, t) for name, t in report["tasks"].items() if t["arms"]]
    fig, axes = plt.subplots(1, len(tasks), figsize=(5.5 * len(tasks), 4), squeeze=False)
    for ax, (tname, task) in zip(axes[0], tasks, strict=True):
        for arm, entry in task["arms"].items():
            by_point: dict[int, list[tuple[float, float]]] = {}
            for curve in entry["curves"].values():
                for point, steps, success in curve:
                    by_point.setdefault(int(point), []).append((steps, success))
            xs, ys, los, his = [], [], [], []
            for point in sorted(by_point):
                pts = by_point[point]
                centre, ci = stats.iqm_ci([s for _, s in pts])
                xs.append(float(np.mean([x for x, _ in pts])))
                ys.append(centre)
                los.append(ci[0] if ci else centre)
                his.append(ci[1] if ci else centre)
            (line,) = ax.plot(xs, ys, marker="o", markersize=3, linewidth=1.4, label=f"{arm} (n={entry['n']})")
            ax.fill_between(xs, los, his, color=line.get_color(), alpha=0.15)
        ax.set_title(f"{tname}", fontsize=10)
        ax.set_xlabel("env steps")
        ax.set_ylabel("held-out success (sampled)")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return Path(out)
