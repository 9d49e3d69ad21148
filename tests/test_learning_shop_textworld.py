"""Learning checks on the shop and TextWorld with the tiny default model (slow: minutes; `make test-slow`).

- Shop (1k products): SFT on oracle demonstrations, then RL from the SFT policy; the RL policy must succeed
  more often than the SFT policy on the same evaluation tasks (sampled actions, same seeds).
- TextWorld TreasureHunter level 1 (the easiest level of the challenge): success over the first training
  episodes vs the last ones (windows by start order) must rise.
Both record the random policy next to them (printed; the numbers are in benchmarks/RESULTS.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

SHOP = "credo/WebShop-v0"
TW = "credo/TextWorld-TreasureHunter-L1-v0"


def _eval(root: Path, **fields: Any) -> Any:
    from agents.evaluate import EvalConfig, evaluate_from_config

    result, _ = evaluate_from_config(EvalConfig(**fields), root=root, show_progress=False)
    return result


@pytest.mark.xfail(strict=False, reason="this 60-demonstration recipe (product asins) has not been re-run since "
                   "SFT trains the action's tokens with the head; the tiny model learns the shop with titles "
                   "(item_names), 2,000 demonstrations, 3 epochs of SFT (~35 min) and 16.7k env steps of RL (~21 "
                   "min): sampled success 0.19 -> 0.28, benchmarks/RESULTS.md 'The shop, again', fifth attempt")
def test_shop_sft_then_rl_beats_sft(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from agents.config import TrainConfig
    from agents.demos import collect_expert, write_demos
    from agents.sft import SFTConfig, run_sft
    from agents.trainer import Trainer

    monkeypatch.setenv("CREDO_CACHE", str(tmp_path / "cache"))
    demos = write_demos(tmp_path / "demos.jsonl", collect_expert(SHOP, 60, seed=5000))
    sft_run, _ = run_sft(SFTConfig.build({"demos": str(demos), "name": "sft", "epochs": 8, "batch_size": 16,
                                          "lr": 3e-3, "torch_threads": 1}), root=tmp_path)
    evaluation = {"env": SHOP, "episodes": 100, "seed": 77, "num_envs": 16}
    after_sft = _eval(tmp_path, target="sft", **evaluation)
    random_baseline = _eval(tmp_path, policy="random", **evaluation)

    config = TrainConfig.build({
        "env": SHOP, "name": "rl", "runs_root": str(tmp_path), "policy": {"model": str(sft_run.path / "policy")},
        "num_envs": 16, "steps_per_iter": 256, "max_episode_steps": 15,
        "total_env_steps": 3072, "torch_threads": 1, "progress": False,
        "learner": {"lr": 1e-3, "epochs": 1, "minibatch_size": 128},
    })
    Trainer(config).train()
    after_rl = _eval(tmp_path, target="rl", **evaluation)
    print(f"\nshop success: random {random_baseline.success:.3f}  after SFT {after_sft.success:.3f}  "
          f"after RL {after_rl.success:.3f}  (score {random_baseline.score:.3f} / {after_sft.score:.3f} / "
          f"{after_rl.score:.3f})")
    assert after_rl.success > after_sft.success
    assert after_sft.success > random_baseline.success


def test_textworld_success_rises_over_training(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from agents.config import TrainConfig
    from agents.runs import RunDir
    from agents.trainer import Trainer

    monkeypatch.setenv("CREDO_CACHE", str(tmp_path / "cache"))
    config = TrainConfig.build({
        "env": TW, "name": "tw", "runs_root": str(tmp_path), "env_kwargs": {"num_games": 8},
        # the tiny model's default head scores a long command like a short one (the summed log-likelihood
        # favoured "look" and "inventory" by many nats and needed a sampling temperature of 4 here)
        "prompt": {"history_window": 0}, "num_envs": 16, "steps_per_iter": 256, "max_episode_steps": 20,
        "total_env_steps": 3072, "success_window": 64, "torch_threads": 1, "progress": False,
        "learner": {"epochs": 1, "minibatch_size": 128},
    })
    Trainer(config).train()
    rows = RunDir.open(tmp_path / "tw").read_metrics()
    first, last = rows[0]["success"], rows[-1]["success"]
    random_baseline = _eval(tmp_path, policy="random", env=TW, env_kwargs={"num_games": 8}, episodes=100,
                            max_episode_steps=20)
    print(f"\ntextworld success: random {random_baseline.success:.3f}  first window {first:.3f}  "
          f"last window {last:.3f}")
    assert last > first + 0.15
