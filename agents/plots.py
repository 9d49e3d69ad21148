"""Learning curves of one or several runs on one figure (PNG), and the table `credo runs compare` prints.

The x axis is cumulative env steps (`env_steps` in metrics.jsonl), the fair axis across runs with different
batch sizes; runs that never logged it fall back to the iteration number (and the axis says so).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agents.runs import RunDir


def curve(rows: Sequence[dict[str, Any]], metric: str, x: str = "env_steps") -> tuple[list[float], list[float]]:
    """(xs, ys) of `metric` against `x` (falls back to `iteration` when a row lacks `x`); missing/NaN values skipped."""
    xs: list[float] = []
    ys: list[float] = []
    for row in rows:
        y = row.get(metric)
        xv = row.get(x, row.get("iteration"))
        if isinstance(y, (int, float)) and not isinstance(y, bool) and isinstance(xv, (int, float)):
            xs.append(float(xv))
            ys.append(float(y))
    return xs, ys


def _smooth(ys: list[float], window: int) -> list[float]:
    """Trailing moving average: noisy per-iteration success rates become readable, the last point stays honest."""
    if window <= 1:
        return ys
    out = []
    for i in range(len(ys)):
        chunk = ys[max(0, i - window + 1): i + 1]
        out.append(sum(chunk) / len(chunk))
    return out


def plot_runs(runs: Sequence[RunDir], metrics: Sequence[str], out: Path, smooth: int = 1,
              title: str | None = None) -> Path:
    """Draw every run's curve of each metric (one panel per metric) into the PNG `out`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not runs:
        raise ValueError("plot: no runs given")
    if not metrics:
        raise ValueError("plot: no metrics given")
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.5 * len(metrics), 4), squeeze=False)
    data = {run.name: run.read_metrics() for run in runs}
    plotted = 0
    for ax, metric in zip(axes[0], metrics, strict=True):
        uses_steps = False
        for name, rows in data.items():
            xs, ys = curve(rows, metric)
            if xs:
                uses_steps = uses_steps or any("env_steps" in r for r in rows)
                ax.plot(xs, _smooth(ys, smooth), label=name, linewidth=1.6)
                plotted += 1
        ax.set_xlabel("env steps" if uses_steps else "iteration")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    if plotted == 0:
        plt.close(fig)
        known = sorted({k for rows in data.values() for r in rows for k in r} - {"iteration", "time"})
        raise ValueError(f"plot: no run logged {', '.join(metrics)}; logged metrics: {', '.join(known) or 'none'}")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


HIGHER_IS_BETTER = ("success", "score", "return", "efficiency", "progression", "accuracy", "per_s")
"""Metric names containing one of these are best at their maximum (outcomes, throughput)."""
LOWER_IS_BETTER = ("loss", "length", "mse")
"""... and these at their minimum. Any other metric (KL, entropy, timings, counts) has no best value: its
"best" would be an arbitrary extreme."""


def direction(metric: str) -> str | None:
    """"max", "min" or None (no better direction) for a metric name; `*_seconds` and `*time*` have none."""
    name = metric.rsplit("/", 1)[-1]
    if "seconds" in name or "time" in name:
        return None
    if any(w in name for w in LOWER_IS_BETTER):
        return "min"
    if any(w in name for w in HIGHER_IS_BETTER):
        return "max"
    return None


def best_value(rows: Sequence[dict[str, Any]], metric: str) -> float | None:
    """The best logged value by the metric's `direction`; None when it has none or was never logged."""
    _, ys = curve(rows, metric)
    way = direction(metric)
    if not ys or way is None:
        return None
    return min(ys) if way == "min" else max(ys)


def compare_rows(runs: Sequence[RunDir], metrics: Sequence[str]) -> list[dict[str, Any]]:
    """Per run: env, credit, env steps, and for each metric its last and best value (see `direction`)."""
    table = []
    for run in runs:
        rows = run.read_metrics()
        summary = run.summary()
        row: dict[str, Any] = {k: summary[k] for k in ("name", "env", "credit", "iterations", "env_steps")}
        for metric in metrics:
            _, ys = curve(rows, metric)
            row[f"{metric} last"] = ys[-1] if ys else None
            row[f"{metric} best"] = best_value(rows, metric)
        table.append(row)
    return table
