"""ONI vs outcome-only at the same env-step budget: success and return (mean +- std over seeds), the labels the
judge delivered, the intrinsic reward, and wall time as a ratio to the `outcome` baseline run in the same call.

Variants: `outcome` and `oni` with each reward model (retrieval, classification, ranking). Every run goes through
the real trainer and writes runs/<root>/oni-cmp-<variant>-s<seed>/. The label source is the judge ONI gets by
default (the offline embedding judge) unless `--judge-url` is given.

    python benchmarks/oni_compare.py --env credo/MiniHack-KeyRoom-Fixed-S5-v0 --seeds 0 1 2 --env-steps 2048
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

VARIANTS = ("outcome", "retrieval", "classification", "ranking")


def run_one(variant: str, seed: int, args: argparse.Namespace) -> dict[str, float]:
    from agents.config import TrainConfig
    from agents.trainer import Trainer

    credit = "outcome" if variant == "outcome" else "oni"
    data = {
        "name": f"oni-cmp-{variant}-s{seed}", "runs_root": args.root, "seed": seed, "env": args.env,
        "env_kwargs": {"compact": True}, "credit": credit, "judge_url": args.judge_url,
        "credit_config": {} if credit == "outcome" else {"oni": {"reward_model": variant}},
        "num_envs": args.num_envs, "steps_per_iter": args.steps_per_iter, "max_episode_steps": args.max_episode_steps,
        "total_env_steps": args.env_steps, "torch_threads": 1, "progress": False, "log_episodes": 2,
    }
    config = TrainConfig.build(data, args.overrides, source="oni_compare")
    start = time.perf_counter()
    summary = Trainer(config).train()
    wall = time.perf_counter() - start
    rows = [json.loads(line) for line in (Path(summary["run"]) / "metrics.jsonl").read_text().splitlines() if line]
    last = rows[-1]
    return {
        "success": float(summary.get("success", np.nan)), "return": float(summary.get("return", np.nan)),
        "env_steps": float(summary["env_steps"]), "wall": wall,
        "labels": float(last.get("oni/labels_received", 0.0)),
        "intrinsic_mean": float(np.mean([r.get("oni/intrinsic_mean", 0.0) for r in rows])),
        "unlabelled_frac": float(last.get("oni/unlabelled_frac", np.nan)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="credo/MiniHack-KeyRoom-Fixed-S5-v0")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--env-steps", type=int, default=2048)
    parser.add_argument("--steps-per-iter", type=int, default=512)
    parser.add_argument("--num-envs", type=int, default=16)
    parser.add_argument("--max-episode-steps", type=int, default=100)
    parser.add_argument("--judge-url", default=None, help="Judge server (default: the embedded embedding judge).")
    parser.add_argument("--root", default="runs", help="Runs folder.")
    parser.add_argument("overrides", nargs="*", help="Extra TrainConfig KEY=VALUE overrides for every run.")
    args = parser.parse_args()

    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table

    results: dict[str, list[dict[str, float]]] = {v: [] for v in args.variants}
    with Progress() as progress:
        task = progress.add_task("oni comparison", total=len(args.variants) * len(args.seeds))
        for seed in args.seeds:
            for variant in args.variants:
                results[variant].append(run_one(variant, seed, args))
                progress.advance(task)

    base_wall = np.mean([r["wall"] for r in results["outcome"]]) if "outcome" in results else np.nan
    table = Table(title=f"{args.env}: {args.env_steps} env steps, seeds {args.seeds}, "
                        f"judge {args.judge_url or 'embedded embedding judge'}")
    for col in ("variant", "success mean ± std", "return mean ± std", "labels", "intrinsic mean", "unlabelled",
                "wall x outcome"):
        table.add_column(col)
    for variant, rows in results.items():
        s, r = np.array([x["success"] for x in rows]), np.array([x["return"] for x in rows])
        wall = float(np.mean([x["wall"] for x in rows]))
        table.add_row(variant, f"{s.mean():.3f} ± {s.std():.3f}", f"{r.mean():.3f} ± {r.std():.3f}",
                      f"{np.mean([x['labels'] for x in rows]):.0f}",
                      f"{np.mean([x['intrinsic_mean'] for x in rows]):.4f}",
                      f"{np.mean([x['unlabelled_frac'] for x in rows]):.2f}", f"{wall / base_wall:.2f}")
    Console().print(table)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
