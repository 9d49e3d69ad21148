"""End to end on the distributed parts: 2 Ray env actors, 1 scoring actor and a 2-rank FSDP2 learner (gloo) learn
MiniHack Room-Random-5x5 to the single-process targets (success >= 0.95 and path efficiency >= 0.8 in the training
window) within 1.2x the single-process env-step budget of tests/test_learning_room.py (40k env steps).

Slow (tens of minutes on 2 shared cores): `pytest -m slow tests/test_learning_scale.py`. The acting replicas hold
the learner's weights bitwise after every publish, and acting is synchronous (no `async_acting`), so this is the
same algorithm as one process up to float summation order and the actors' sampling seeds (staleness above 0 comes
from episodes carried over between iterations, as in one process).
"""

from __future__ import annotations

import pytest

from agents.runs import RunDir
from tests.test_learning_room import CONFIGS, _first_row
from tests.test_scale_trainer import _torchrun_train

pytest.importorskip("ray")

SINGLE_PROCESS_BUDGET = 40_000
"""tests/test_learning_room.py's env-step budget for Room-Random-5x5 (its run meets the targets at ~19k)."""


@pytest.mark.slow
def test_room_random_5x5_with_ray_actors_and_a_two_rank_learner(tmp_path, cache_dir):
    budget = int(1.2 * SINGLE_PROCESS_BUDGET)
    _torchrun_train(tmp_path, cache_dir, "--config", str(CONFIGS / "room_random_5x5.yaml"), "--name", "scale-e2e",
                    f"runs_root={tmp_path}", "progress=false", "eval_episodes=0", "max_minutes=null",
                    f"total_env_steps={budget}", "pool=ray", "workers=2", "scale.scorers=1", "scale.learner=fsdp",
                    "ray.num_cpus=2", "ray.env_actor_cpus=0.5", "ray.scorer_cpus=1", timeout_s=4 * 3600)
    rows = RunDir.open(tmp_path / "scale-e2e").read_metrics()
    reached = _first_row(rows, success=(">=", 0.95), efficiency=(">=", 0.8))
    assert reached is not None, rows[-1]
    assert reached["env_steps"] <= budget and rows[-1]["success"] >= 0.95
    assert [r["weights_version"] for r in rows] == [r["iteration"] for r in rows]  # a publish after every update
    assert rows[-1]["env_worker_restarts"] == 0
