"""The trainer's one loop with the distributed parts behind its interfaces: Ray env actors and scoring actors act,
weights are published after every update, steps carry the version that acted, and `max_staleness` bounds what
trains under asynchronous acting."""

from __future__ import annotations

import pytest
import torch

from agents.publish import trainable_weights
from agents.trainer import Trainer
from credo.config import ConfigError
from tests._agent_helpers import line_config

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


def test_distributed_options_are_checked_in_one_line(tmp_path):
    with pytest.raises(ConfigError, match="scale.async_acting needs scale.scorers"):
        line_config(tmp_path, scale={"async_acting": True})
    with pytest.raises(ConfigError, match="scale.engine_url acts in generate mode"):
        line_config(tmp_path, scale={"engine_url": "http://127.0.0.1:1"})
    with pytest.raises(ConfigError, match="scale.learner=fsdp acts through scale.scorers"):
        line_config(tmp_path, scale={"learner": "fsdp"})
    generate = line_config(tmp_path, policy={"mode": "generate"}, scale={"engine_url": "http://127.0.0.1:1"})
    assert generate.learner.behaviour_logprobs == "recompute"
