"""The trainer's one loop with the distributed parts behind its interfaces: Ray env actors and scoring actors act,
weights are published after every update, steps carry the version that acted, and `max_staleness` bounds what
trains under asynchronous acting."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from agents.publish import trainable_weights
from agents.runs import RunDir
from agents.trainer import Trainer
from credo.config import ConfigError
from tests._agent_helpers import line_config

ROOT = Path(__file__).resolve().parents[1]

pytest.importorskip("ray")

RAY = {"env_actor_cpus": 0.5, "scorer_cpus": 0.5}


def _recording(trainer: Trainer) -> list[int]:
    """Wrap the learner's update to record the staleness of every step it trains on."""
    seen: list[int] = []
    update = trainer.learner.update

    def wrapped(steps, *args, **kwargs):
        seen.extend(trainer.iteration - s.policy_version for s in steps)
        return update(steps, *args, **kwargs)

    trainer.learner.update = wrapped
    return seen


def test_ray_env_actors_and_scoring_actors_run_the_same_loop(ray_cluster, tmp_path, cache_dir):
    config = line_config(tmp_path, pool="ray", workers=2, ray=RAY, scale={"scorers": 1})
    trainer = Trainer(config)
    try:
        assert trainer.rollout.pool.num_workers == 2 and trainer.publisher.version == 0
        for it in (1, 2):
            metrics = trainer.iterate()
            assert metrics["weights_version"] == it and metrics["env_worker_restarts"] == 0
            assert metrics["staleness_max"] <= 1 and "publish_seconds" in metrics
        held = trainer.backend.ray.get(trainer.backend.actors[0].weights.remote())
        mine = trainable_weights(trainer.policy.model)
        assert trainer.backend.version == 2 and all(torch.equal(held[k], mine[k].detach()) for k in mine)
    finally:
        trainer.rollout.close()
        trainer.backend.close()


@pytest.mark.parametrize("limit", [1, 0])
def test_async_acting_trains_nothing_older_than_max_staleness(ray_cluster, tmp_path, cache_dir, limit):
    config = line_config(tmp_path, workers=0, ray=RAY, scale={"scorers": 1, "async_acting": True},
                         max_staleness=limit, total_env_steps=10_000)
    trainer = Trainer(config)
    seen = _recording(trainer)
    try:
        metrics = [trainer.iterate() for _ in range(3)]
    finally:
        trainer.rollout.close()
        trainer.backend.close()
    assert seen and max(seen) <= limit
    assert max(m["staleness_max"] for m in metrics) >= 1  # acting went on during the updates
    if limit == 0:
        assert sum(m["stale_steps_dropped"] for m in metrics) > 0


def _torchrun_train(tmp_path: Path, cache_dir: Path, *args: str, timeout_s: float = 900) -> None:
    """`credo train ARGS` on 2 torchrun ranks (the test env registered), in `tmp_path`."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "CREDO_CACHE": str(cache_dir)}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           "-m", "tests._scale_train_worker", "train", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=timeout_s)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]


def test_credo_train_under_torchrun_with_ray_actors_and_a_two_rank_learner_resumes(tmp_path, cache_dir):
    """The whole distributed mode through the CLI: Ray env actors and a scoring actor act, a 2-rank FSDP2
    learner trains, held-out evaluation acts through the scoring actor, and a resume continues from the DCP
    checkpoint with the published version."""
    config = line_config(tmp_path, name="dist", pool="ray", workers=2, scale={"scorers": 1, "learner": "fsdp"},
                         ray={"num_cpus": 2, "env_actor_cpus": 0.5, "scorer_cpus": 0.5}, eval_episodes=2)
    (tmp_path / "dist.yaml").write_text(yaml.safe_dump(config.model_dump(mode="json", exclude={"name"})))
    _torchrun_train(tmp_path, cache_dir, "--config", str(tmp_path / "dist.yaml"), "--name", "dist")
    run = RunDir.open(tmp_path / "dist")
    checkpoint = run.latest_checkpoint()
    assert (checkpoint / "policy").is_dir() and (checkpoint / "dcp").is_dir()
    # one more iteration: an iteration takes whole groups (>= 64 steps, more when episodes run long), so the
    # first run's count varies with what the policy sampled
    reached = int(run.read_metrics()[-1]["env_steps"])
    _torchrun_train(tmp_path, cache_dir, "--resume", str(run.path), f"total_env_steps={reached + 1}")
    rows = RunDir.open(tmp_path / "dist").read_metrics()
    assert [r["weights_version"] for r in rows] == [1, 2, 3] and all(r["staleness_max"] <= 1 for r in rows)
    evals = [json.loads(line) for line in (run.path / "eval.jsonl").read_text().splitlines()]
    assert {r["iteration"] for r in evals if r["policy"] == "model"} == {0, 2, 3}
    assert (run.path / "summary.json").is_file()


def test_distributed_options_are_checked_in_one_line(tmp_path):
    with pytest.raises(ConfigError, match="scale.async_acting needs scale.scorers"):
        line_config(tmp_path, scale={"async_acting": True})
    with pytest.raises(ConfigError, match="scale.engine_url acts in generate mode"):
        line_config(tmp_path, scale={"engine_url": "http://127.0.0.1:1"})
    with pytest.raises(ConfigError, match="scale.learner=fsdp acts through scale.scorers"):
        line_config(tmp_path, scale={"learner": "fsdp"})
    generate = line_config(tmp_path, policy={"mode": "generate"}, scale={"engine_url": "http://127.0.0.1:1"})
    assert generate.learner.behaviour_logprobs == "recompute"
