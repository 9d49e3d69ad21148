"""Compare credit modules at the same env-step budget: success (mean +- std over seeds) and the time share of
the modules' own updates (SPA estimator fits, OPRL PRM steps) in an iteration.

Every run goes through the real trainer and writes to runs/<name>/ (names `cmp-<credit>-s<seed>`), so curves
can be inspected afterwards with `credo runs compare`. Ratios are against the `outcome` baseline measured in
the same invocation.

    python benchmarks/credit_compare.py --env credo/MiniHack-KeyRoom-Fixed-S5-v0 --seeds 0 1 2 --env-steps 8192
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

# Settings that make each module learn at the tiny model's scale (its policy lr is 1e-3, not 1e-6).
TINY_CREDIT_CONFIG = {
    "spa": {"lr": 1e-4, "head_lr": 1e-2, "epochs": 2, "replay_iterations": 2},
    "oprl": {"lr": 1e-3},
    "gigpo": {},
    "outcome": {},
}


def run_one(credit: str, seed: int, args: argparse.Namespace) -> dict[str, float]:
    from agents.config import TrainConfig
    from agents.trainer import Trainer

    name = f"cmp-{credit}-s{seed}"
    data = {
        "name": name, "runs_root": args.root, "seed": seed, "env": args.env, "env_kwargs": {"compact": True},
        "credit": credit, "credit_config": {credit: TINY_CREDIT_CONFIG.get(credit, {})},
        "advantage": args.advantage, "group_size": args.group_size, "num_envs": args.num_envs,
        "steps_per_iter": args.steps_per_iter, "max_episode_steps": args.max_episode_steps,
        "total_env_steps": args.env_steps, "torch_threads": 1, "progress": False, "log_episodes": 2,
    }
    config = TrainConfig.build(data, args.overrides, source="credit_compare")
    start = time.perf_counter()
    summary = Trainer(config).train()
    wall = time.perf_counter() - start
    rows = [json.loads(line) for line in (Path(summary["run"]) / "metrics.jsonl").read_text().splitlines() if line]
    return {
        "success": float(summary.get("success", np.nan)),
        "episode_length": float(summary.get("episode_length", np.nan)),
        "wall": wall,
        "credit_share": float(np.mean([r["credit_share"] for r in rows])),
        "env_steps": float(summary["env_steps"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="credo/MiniHack-KeyRoom-Fixed-S5-v0")
    parser.add_argument("--credits", nargs="+", default=["outcome", "spa", "oprl", "gigpo"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--env-steps", type=int, default=8192)
    parser.add_argument("--steps-per-iter", type=int, default=512)
    parser.add_argument("--group-size", type=int, default=4)
    parser.add_argument("--num-envs", type=int, default=16)
    parser.add_argument("--max-episode-steps", type=int, default=100)
    parser.add_argument("--advantage", default="rloo", help="Episode-level estimator shared by all (iStar: rloo).")
    parser.add_argument("--root", default="runs", help="Runs folder.")
    parser.add_argument("overrides", nargs="*", help="Extra TrainConfig KEY=VALUE overrides for every run.")
    args = parser.parse_args()

    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table

    results: dict[str, list[dict[str, float]]] = {c: [] for c in args.credits}
    with Progress() as progress:
        task = progress.add_task("credit comparison", total=len(args.credits) * len(args.seeds))
        for seed in args.seeds:
            for credit in args.credits:
                results[credit].append(run_one(credit, seed, args))
                progress.advance(task)

    base_wall = np.mean([r["wall"] for r in results.get("outcome", [])]) if "outcome" in results else np.nan
    table = Table(title=f"{args.env}: {args.env_steps} env steps, seeds {args.seeds}, advantage={args.advantage}")
    for col in ("credit", "success mean ± std", "episode length", "wall s", "wall x outcome", "credit share"):
        table.add_column(col)
    for credit, rows in results.items():
        s = np.array([r["success"] for r in rows])
        wall = float(np.mean([r["wall"] for r in rows]))
        table.add_row(credit, f"{s.mean():.3f} ± {s.std():.3f}",
                      f"{np.mean([r['episode_length'] for r in rows]):.1f}", f"{wall:.0f}",
                      f"{wall / base_wall:.2f}", f"{np.mean([r['credit_share'] for r in rows]):.1%}")
    Console().print(table)
    print(json.dumps({c: rows for c, rows in results.items()}))


if __name__ == "__main__":
    main()
