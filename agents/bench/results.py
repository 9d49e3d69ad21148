"""What the report reads from one finished run folder: its held-out curve and the numbers compared across arms.

All outcome numbers come from `eval.jsonl` (held-out seeds), none from the training window. Definitions (the
report repeats them):
- success AUC: the area under held-out sampled success against env steps, over the evaluated range, divided by
  its length (trapezoids): the mean success over training, 0..1;
- final success (sampled, greedy), episode length and path efficiency: the last evaluation (efficiency: mean
  over its successful episodes; none when it had none); key picked up: the share of the last evaluation's
  episodes that ever carried the key (KeyRoom's sub-goal; runs evaluated before it was recorded have none);
- collapse: the run's held-out sampled success reached at least max(PEAK, s0 + RISE) at some point after env step
  0 (s0: its success at env step 0) and its last point is at most FLOOR;
- time shares: each part's seconds summed over iterations (metrics.jsonl: `<module>/seconds`, `credit_seconds`,
  `learner_seconds`, `rollout_seconds`) over the training wall time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from agents.bench.suite import CELL_FILE
from agents.heldout import EVAL_FILE
from agents.runs import RunDir, read_jsonl

PEAK, RISE, FLOOR = 0.2, 0.1, 0.05
COLLAPSE_RULE = (f"held-out sampled success reached >= max({PEAK}, s0 + {RISE}) after env step 0 (s0: success at "
                 f"env step 0), and the last evaluation is <= {FLOOR}")
METRICS = {  # key: (label, higher is better)
    "auc": ("success AUC", True),
    "final_success": ("final success", True),
    "final_success_greedy": ("final greedy success", True),
    "final_length": ("episode length", False),
    "final_efficiency": ("path efficiency", True),
    "final_key": ("key picked up", True),  # KeyRoom's sub-goal (None on tasks without one)
}


@dataclass
class RunResult:
    """One finished run, reduced to what the suite compares."""

    name: str
    task: str
    arm: str
    seed: int
    curve: list[tuple[int, float, float]]
    """(point, env_steps, held-out sampled success) in order."""
    values: dict[str, float | None]
    collapsed: bool
    wall_time: float
    eval_seconds: float
    shares: dict[str, float] = field(default_factory=dict)


def auc(xs: list[float], ys: list[float]) -> float | None:
    if not ys:
        return None
    if len(ys) == 1 or xs[-1] <= xs[0]:
        return float(ys[-1])
    return float(np.trapezoid(ys, xs) / (xs[-1] - xs[0]))


def collapsed(curve: list[tuple[int, float, float]]) -> bool:
    if len(curve) < 2:
        return False
    s0 = curve[0][2] if curve[0][0] == 0 else 0.0
    peak = max(s for p, _, s in curve if p > 0)
    return peak >= max(PEAK, s0 + RISE) and curve[-1][2] <= FLOOR


def time_shares(rows: list[dict[str, Any]], wall: float) -> dict[str, float]:
    totals: dict[str, float] = {}
    for row in rows:
        for key, value in row.items():
            if not isinstance(value, (int, float)):
                continue
            if key.endswith("/seconds"):
                part = key.split("/")[0]
            elif key in ("credit_seconds", "learner_seconds", "rollout_seconds"):
                part = key.removesuffix("_seconds")
            else:
                continue
            totals[part] = totals.get(part, 0.0) + float(value)
    return {k: v / wall for k, v in totals.items()} if wall > 0 else {}


def read_run(path: Path) -> RunResult | None:
    """The result of a finished suite run (None while it is unfinished or has no held-out evaluation)."""
    from agents.trainer import SUMMARY_FILE

    path = Path(path)
    try:
        cell = json.loads((path / CELL_FILE).read_text())
        summary = json.loads((path / SUMMARY_FILE).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    rows = read_jsonl(path / EVAL_FILE)
    model = [r for r in rows if r.get("policy") == "model"]
    sampled = [r for r in model if not r["greedy"]]
    if not sampled:
        return None
    curve = [(int(r["point"]), float(r["env_steps"]), float(r["success"])) for r in sampled]
    last = sampled[-1]
    greedy = [r for r in model if r["greedy"]]
    values = {
        "auc": auc([c[1] for c in curve], [c[2] for c in curve]),
        "final_success": float(last["success"]),
        "final_success_greedy": float(greedy[-1]["success"]) if greedy else None,
        "final_length": float(last["episode_length"]),
        "final_efficiency": last.get("efficiency"),
        "final_key": (last.get("subgoals") or {}).get("key"),
    }
    wall = float(summary.get("wall_time", 0.0))
    return RunResult(name=path.name, task=cell["task"], arm=cell["arm"], seed=int(cell["seed"]), curve=curve,
                     values=values, collapsed=collapsed(curve), wall_time=wall,
                     eval_seconds=sum(float(r.get("seconds") or 0.0) for r in rows),
                     shares=time_shares(RunDir(path).read_metrics(), wall))
