"""Held-out evaluation during training: the policy plays `eval_episodes` episodes on seeds no training episode
uses, at env step 0, every `eval_every_env_steps` env steps and at the end, and each evaluation is one line of
`runs/<name>/eval.jsonl`.

Why here and not in a benchmark script: any run can then be compared on held-out tasks instead of its training
window (which reads high: it is the same tasks, sampled while learning), and a suite of runs
(`credo bench credit`) needs nothing of its own.

Rules that make the file trustworthy across `kill -9` and `--resume`:
- a point is evaluated only on a policy that is saved in a checkpoint (the trainer checkpoints first), so the
  point a resumed run finds in the file is the policy it resumed from, never a lost future one;
- on resume, rows logged after the restored iteration are dropped (as metrics.jsonl is truncated), and a point
  whose row is missing is evaluated again: a point is neither lost nor duplicated;
- an evaluation runs under its own fixed random seed and restores the training RNG afterwards, so it is a
  function of the policy alone and does not change the training run's random stream.

Point k is the evaluation after the iteration at which `env_steps // eval_every_env_steps` first reached k
(k = 0: before training); the end of training is always evaluated (`final: true`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agents.runs import RunDir, read_jsonl

EVAL_FILE = "eval.jsonl"
EVAL_SEED_OFFSET = 10_000_000
"""Evaluation plays rollout seed `EVAL_SEED_OFFSET + seed`: its env seeds ((10M + s) * 1_000_003 + g) never meet
training's (s * 1_000_003 + g). Envs that fold seeds onto a few games (TextWorld) need `eval_env_kwargs`."""


class HeldOutEval:
    """The evaluation schedule of one run and its `eval.jsonl`; the trainer calls `due`, `record` and `truncate`."""

    def __init__(self, run: RunDir, episodes: int, every_env_steps: int | None, greedy: str) -> None:
        self.path = Path(run.path) / EVAL_FILE
        self.episodes = episodes
        self.every = every_env_steps
        self.greedy = greedy

    @property
    def enabled(self) -> bool:
        return self.episodes > 0

    def rows(self) -> list[dict[str, Any]]:
        return read_jsonl(self.path)

    def truncate(self, iteration: int) -> None:
        """Resume: keep only rows of iterations <= `iteration` (later ones evaluated a policy that is gone)."""
        if not self.path.exists():
            return
        keep = [r for r in self.rows() if int(r.get("iteration", -1)) <= iteration]
        tmp = self.path.with_name(f".tmp-{EVAL_FILE}")
        tmp.write_text("".join(json.dumps(r) + "\n" for r in keep))
        tmp.replace(self.path)

    def _point(self, env_steps: int) -> int:
        return env_steps // self.every if self.every else 0

    def due(self, iteration: int, env_steps: int, final: bool) -> list[tuple[str, bool]]:
        """(policy, greedy) evaluations owed at this iteration: [] when none, e.g. [("model", False)]."""
        if not self.enabled:
            return []
        rows = self.rows()
        done = {(r["policy"], bool(r["greedy"]), int(r["iteration"])) for r in rows}
        model_points = [int(r["point"]) for r in rows if r["policy"] == "model" and not r["greedy"]]
        point_due = self._point(env_steps) > max(model_points, default=-1)
        out: list[tuple[str, bool]] = []
        if (point_due or final) and ("model", False, iteration) not in done:
            out.append(("model", False))
        wants_greedy = self.greedy == "all" and point_due or self.greedy in ("all", "final") and final
        if wants_greedy and ("model", True, iteration) not in done:
            out.append(("model", True))
        if final and not any(r["policy"] == "random" for r in rows):
            out.append(("random", False))
        return out

    def record(self, iteration: int, env_steps: int, final: bool, policy: str, greedy: bool,
               result: dict[str, Any]) -> dict[str, Any]:
        """Append one evaluation (flushed line; a kill cuts at most this line, which readers skip)."""
        row = {"iteration": iteration, "env_steps": env_steps, "point": self._point(env_steps), "final": final,
               "policy": policy, "greedy": greedy, "time": time.time(), **result}
        with open(self.path, "a") as fh:
            fh.write(json.dumps(row) + "\n")
            fh.flush()
        return row


def play_heldout(policy: Any, builder: Any, env: str, episodes: int, *, seed: int, greedy: bool, num_envs: int,
                 max_episode_steps: int, env_kwargs: dict[str, Any],
                 on_episode: Callable[[Any], None] | None = None, backend: Any = None) -> dict[str, Any]:
    """Play `episodes` held-out episodes under a fixed random seed (the caller's RNG is restored afterwards) and
    summarise them (acting through `backend` when given, see `agents.evaluate.play`): success with its Wilson
    interval, length, score, return, path efficiency and the share of episodes that reached each of the env's
    sub-goals (`subgoals`, where the env reports any)."""
    from agents.evaluate import play, summarize
    from credo.seeding import rng_state, seed_everything, set_rng_state

    state = rng_state()
    seed_everything(EVAL_SEED_OFFSET + seed)
    start = time.perf_counter()
    try:
        eps = play(policy, builder, env, episodes, seed=EVAL_SEED_OFFSET + seed, greedy=greedy, num_envs=num_envs,
                   max_episode_steps=max_episode_steps, env_kwargs=env_kwargs, on_episode=on_episode,
                   backend=backend)
    finally:
        set_rng_state(state)
    res = summarize(eps, env=env, policy="", greedy=greedy, seed=seed, wall_s=time.perf_counter() - start)
    wins = [e for e in eps if e.success]
    goals = sorted({k for e in eps for k in e.metrics if k.startswith("subgoal_")})
    subgoals = {k.removeprefix("subgoal_"): sum(e.metrics.get(k, 0.0) for e in eps) / len(eps) for k in goals}
    return {"episodes": res.episodes, "success": res.success, "success_ci": list(res.success_ci),
            "episode_length": res.mean_length, "score": res.score,
            "return": sum(e.total_reward for e in eps) / len(eps),
            "efficiency": res.efficiency, "efficiency_n": sum("efficiency" in e.metrics for e in wins),
            **({"subgoals": subgoals} if subgoals else {}), "seconds": res.wall_s}
