"""Compare credit modules at the same env-step budget: final success and return (mean +- std over seeds), the
success AUC (the training window's success averaged over every logged iteration: how fast it rose), episode
length and path efficiency, the time share of the modules' own updates (SPA estimator fits, OPRL PRM steps...), and, for ONI, the
labels the judge delivered. Wall time is reported as a ratio to the `outcome` baseline run in the same call.

Every run goes through the real trainer and writes runs/<root>/cmp-<variant>-s<seed>/, so curves can be
inspected afterwards with `credo runs compare`. A variant is a name from `VARIANTS` (a credit spec plus the
module settings that make it learn at the tiny model's scale).

    python benchmarks/credit_compare.py --seeds 0 1 2      # outcome/spa/oprl/gigpo on Room-5x5, 20-step cap
    python benchmarks/credit_compare.py --env credo/MiniHack-KeyRoom-Fixed-S5-v0 --max-episode-steps 100 \
        --variants outcome oni-retrieval oni-classification oni-ranking

The default task, Room-5x5 with a 20-step cap, is a sparse binary outcome (+1 only at the stairs; random play
succeeds 11% of the time) on which outcome-only learning visibly rises within the budget, so the variants differ
in how fast they get there; with rloo, the outcome says nothing about path length inside the cap, which step-level
credit can.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

VARIANTS: dict[str, tuple[str, dict[str, dict]]] = {
    # name: (credit spec, credit_config). The tiny model's policy lr is 1e-3, not the papers' 1e-6.
    "outcome": ("outcome", {}),
    # SPA's head shares the backbone's lr: Adam moves each of its 128 weights by ~lr per step, and a sum over ~20
    # steps then overshoots a 0/1 outcome (head_lr 1e-2 gave held-out MSE 1-60; 1e-4 gives 0.2-0.5).
    "spa": ("spa", {"spa": {"lr": 1e-4, "epochs": 2, "replay_iterations": 2}}),
    "oprl": ("oprl", {"oprl": {"lr": 1e-3}}),
    "gigpo": ("gigpo", {}),
    "oni-retrieval": ("oni", {"oni": {"reward_model": "retrieval"}}),
    "oni-classification": ("oni", {"oni": {"reward_model": "classification"}}),
    "oni-ranking": ("oni", {"oni": {"reward_model": "ranking"}}),
}


def run_one(variant: str, seed: int, args: argparse.Namespace) -> dict[str, float]:
    from agents.config import TrainConfig
    from agents.trainer import Trainer

    credit, preset = VARIANTS[variant]
    credit_config = {name: dict(cfg) for name, cfg in preset.items()}
    if credit == "oni":  # ONI's extrinsic rescaling is for per-step-return estimators; RLOO/GRPO handle the outcome
        credit_config["oni"]["rescale_extrinsic"] = args.advantage in ("returns", "gae")
    data = {
        "name": f"cmp-{variant}-s{seed}", "runs_root": args.root, "seed": seed, "env": args.env,
        "env_kwargs": {"compact": True}, "credit": credit, "credit_config": credit_config,
        "judge_url": args.judge_url, "advantage": args.advantage, "group_size": args.group_size,
        "num_envs": args.num_envs, "steps_per_iter": args.steps_per_iter, "max_episode_steps": args.max_episode_steps,
        "total_env_steps": args.env_steps, "torch_threads": 1, "progress": False, "log_episodes": 2,
    }
    config = TrainConfig.build(data, args.overrides, source="credit_compare")
    start = time.perf_counter()
    summary = Trainer(config).train()
    wall = time.perf_counter() - start
    rows = [json.loads(line) for line in (Path(summary["run"]) / "metrics.jsonl").read_text().splitlines() if line]
    curve = [r["success"] for r in rows if "success" in r]
    return {
        "success": float(summary.get("success", np.nan)), "return": float(summary.get("return", np.nan)),
        "success_auc": float(np.mean(curve)) if curve else np.nan,
        "efficiency": float(summary.get("efficiency", np.nan)),
        "episode_length": float(summary.get("episode_length", np.nan)), "wall": wall,
        "env_steps": float(summary["env_steps"]),
        "credit_share": float(np.mean([r.get("credit_share", 0.0) for r in rows])),
        "labels": float(rows[-1].get("oni/labels_received", np.nan)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="credo/MiniHack-Room-5x5-v0")
    parser.add_argument("--variants", nargs="+", default=["outcome", "spa", "oprl", "gigpo"], choices=VARIANTS)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--env-steps", type=int, default=8000)
    parser.add_argument("--steps-per-iter", type=int, default=512)
    parser.add_argument("--group-size", type=int, default=4)
    parser.add_argument("--num-envs", type=int, default=16)
    parser.add_argument("--max-episode-steps", type=int, default=20)
    parser.add_argument("--advantage", default="rloo", help="Episode-level estimator shared by all (iStar: rloo).")
    parser.add_argument("--judge-url", default=None, help="Judge for ONI/LaRe (default: the embedded embedding judge).")
    parser.add_argument("--root", default="runs", help="Runs folder.")
    parser.add_argument("overrides", nargs="*", help="Extra TrainConfig KEY=VALUE overrides for every run.")
    args = parser.parse_args()

    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table

    results: dict[str, list[dict[str, float]]] = {v: [] for v in args.variants}
    with Progress() as progress:
        task = progress.add_task("credit comparison", total=len(args.variants) * len(args.seeds))
        for seed in args.seeds:
            for variant in args.variants:
                results[variant].append(run_one(variant, seed, args))
                progress.advance(task)

    base_wall = np.mean([r["wall"] for r in results["outcome"]]) if "outcome" in results else np.nan
    table = Table(title=f"{args.env}: {args.env_steps} env steps, seeds {args.seeds}, advantage={args.advantage}, "
                        f"judge {args.judge_url or 'embedded'}")
    columns = ("variant", "success mean ± std", "success AUC mean ± std", "return mean ± std", "episode length",
               "efficiency", "wall s", "wall x outcome", "credit share", "labels")
    for col in columns:
        table.add_column(col)

    def mean_std(rows: list[dict[str, float]], key: str) -> str:
        values = np.array([x[key] for x in rows])
        return f"{values.mean():.3f} ± {values.std():.3f}"

    for variant, rows in results.items():
        wall = float(np.mean([x["wall"] for x in rows]))
        labels = np.mean([x["labels"] for x in rows])
        table.add_row(variant, mean_std(rows, "success"), mean_std(rows, "success_auc"), mean_std(rows, "return"),
                      f"{np.mean([x['episode_length'] for x in rows]):.1f}",
                      f"{np.nanmean([x['efficiency'] for x in rows]):.2f}", f"{wall:.0f}", f"{wall / base_wall:.2f}",
                      f"{np.mean([x['credit_share'] for x in rows]):.1%}", "-" if np.isnan(labels) else f"{labels:.0f}")
    Console().print(table)
    print("| " + " | ".join(columns) + " |\n|" + "---|" * len(columns))  # the same table, for RESULTS.md
    for row in zip(*(col.cells for col in table.columns), strict=True):
        print("| " + " | ".join(row) + " |")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
