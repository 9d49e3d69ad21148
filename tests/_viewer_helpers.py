"""Run folders for the viewer's tests and benchmark, written the way `credo train` writes them, without training.

`make_run` writes config.yaml, metrics.jsonl and episodes/iter_<n>.jsonl (each line a real `Episode.to_dict()`
with per-module step rewards, candidates and log-probs, and the final advantage); large runs (1,000 iterations,
100k episodes) take seconds because one serialised episode is reused with a new id per line.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any

import yaml

from credo.trajectory import Episode, Step

CANDIDATES = ["north", "east", "south", "west"]
MODULES = ("spa", "gigpo")


def credit_value(module: str, t: int) -> float:
    """The step reward module `module` gives step t in the synthetic episodes (tests compare against it)."""
    return round((0.1 if module == "spa" else -0.05) * (t + 1) + (0.003 if module == "spa" else 0.0), 6)


def make_episode(eid: str, length: int = 4, success: bool = True) -> Episode:
    """An episode with `length` choose-mode steps, a NetHack-like observation, spa and gigpo step rewards."""
    steps = []
    logits = [math.log(p) for p in (0.1, 0.6, 0.2, 0.1)]
    for t in range(length):
        steps.append(Step(
            episode_id=eid, group_id="g0", step_index=t,
            observation=f"Message: step {t}\n -----\n |.@.>|\n -----\nStatus: hp 12/12, depth 1, time {t + 1}",
            prompt_ids=[1, 2], action_ids=[3], action_text="east", logprob=logits[1], candidates=list(CANDIDATES),
            candidate_logprobs=logits, reward=1.0 if success and t == length - 1 else -0.01,
            state={"hp": 12, "x": t, "message": f"step {t}"}, caption=f"step {t}", done=t == length - 1,
            step_rewards={m: credit_value(m, t) for m in MODULES}, advantage=0.5 - 0.25 * t))
    return Episode(episode_id=eid, group_id="g0", env_id="credo/MiniHack-Room-5x5-v0", seed=0,
                   instruction="Reach the staircase down (>).", steps=steps, success=success, score=float(success))


def metrics_row(iteration: int, steps_per_iter: int = 512, t0: float = 1.7e9) -> dict[str, Any]:
    """A metrics.jsonl row with the keys a credo run with spa and gigpo logs (about 40 of them)."""
    row: dict[str, Any] = {"iteration": iteration, "time": t0 + 30.0 * iteration,
                           "env_steps": float(steps_per_iter * iteration), "episodes": 10.0 * iteration,
                           "wall_time": 30.0 * iteration, "success": min(1.0, 0.1 * iteration),
                           "return": 0.05 * iteration, "episode_length": 20.0 - 0.01 * iteration}
    row.update({k: 0.5 for k in ("score", "efficiency", "batch_success", "batch_episode_length", "batch_steps", "kl",
                                 "tokens_per_s", "env_steps_per_s", "act_seconds", "env_seconds", "rollout_seconds",
                                 "credit_seconds", "credit_share", "advantage_std", "policy_loss", "entropy",
                                 "clip_frac", "grad_norm", "learner_tokens", "learner_seconds", "spa/seconds",
                                 "spa/fit_time", "spa/replay_episodes", "spa/estimator_loss", "gigpo/seconds",
                                 "gigpo/anchor_group_size", "gigpo/anchored_step_frac", "gigpo/step_adv_abs")})
    row["spa/heldout_mse"] = 1.0 / iteration
    return row


def make_run(root: Path, name: str, iterations: int = 3, episodes_per_iter: int = 4, length: int = 4,
             config: dict[str, Any] | None = None, cell: dict[str, Any] | None = None,
             age_s: float = 0.0) -> Path:
    """Write a run folder `root/name` (name may be `suite/run`); `age_s` > 0 dates every file that far back."""
    path = Path(root) / name
    (path / "episodes").mkdir(parents=True)
    (path / "checkpoints").mkdir()
    cfg = {"name": path.name, "env": "credo/MiniHack-Room-5x5-v0", "credit": "spa:1.0,gigpo:1.0",
           "advantage": "rloo", "seed": 0, "total_env_steps": 512 * iterations, "max_minutes": None,
           "policy": {"model": "tiny", "mode": "choose"}, **(config or {})}
    (path / "config.yaml").write_text(yaml.safe_dump(cfg))
    with open(path / "metrics.jsonl", "w") as fh:
        fh.writelines(json.dumps(metrics_row(i)) + "\n" for i in range(1, iterations + 1))
    template = json.dumps(make_episode("EPID", length).to_dict())
    for i in range(1, iterations + 1):
        lines = (template.replace('"EPID"', f'"i{i}e{k}"') + "\n" for k in range(episodes_per_iter))
        (path / "episodes" / f"iter_{i}.jsonl").write_text("".join(lines))
    if cell is not None:
        (path / "suite_cell.json").write_text(json.dumps(cell))
    if age_s:
        stamp = time.time() - age_s
        for p in [*path.rglob("*"), path]:
            os.utime(p, (stamp, stamp))
    return path


def make_suite(root: Path) -> Path:
    """Suite `s` under `root`: task room, arms outcome and spa (spa reads twice as high), seeds 0 and 1, a report."""
    for arm, scale in (("outcome", 1.0), ("spa", 2.0)):
        for seed in (0, 1):
            path = make_run(root, f"s/room-{arm}-s{seed}", cell={"suite": "s", "task": "room", "arm": arm, "seed": seed})
            rows = [dict(metrics_row(i), success=scale * (0.1 * i + 0.1 * seed), env_steps=100.0 * i + 50 * seed)
                    for i in range(1, 5)]
            (path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    folder = root / "s"
    (folder / "suite.yaml").write_text("tasks: [room]\n")
    (folder / "report.md").write_text("# Suite s\n\n| arm | success |\n|---|---|\n| spa | 0.9 |\n\n<script>alert(1)</script>\n\n"
                                      "![curves](curves.png)\n")
    (folder / "curves.png").write_bytes(b"\x89PNG\r\n\x1a\nfake")
    (folder / "notes.txt").write_text("not a figure")
    return folder
