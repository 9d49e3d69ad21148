"""Helpers for the agent tests: a tiny deterministic text env (walk along a line to the goal) and builders.

Registered as `credo-test/Line-v0` (family "test") on import. The observation says where the goal is
("goal 3 east"), so a policy that reads it can learn the optimal path; the start and goal depend on the seed.
"""

from __future__ import annotations

import random
from typing import Any

import envs
from envs.core import TextEnv

ENV_ID = "credo-test/Line-v0"
ACTIONS = ["east", "west", "wait"]


class LineEnv(TextEnv):
    """Positions 0..size-1; +1 reward and success at the goal; `max_steps` cap (truncation)."""

    family = "test"

    def __init__(self, size: int = 6, max_steps: int = 20, render_mode: str | None = None) -> None:
        super().__init__(render_mode)
        self.size, self.max_steps = size, max_steps
        self.pos = self.goal = self.t = 0

    def _obs(self) -> str:
        d = self.goal - self.pos
        return "goal here" if d == 0 else f"goal {abs(d)} {'east' if d > 0 else 'west'}"

    def _info(self, valid: bool = True) -> dict[str, Any]:
        return {"instruction": "reach the goal", "admissible_actions": list(ACTIONS), "valid_action": valid,
                "success": self.pos == self.goal, "score": float(self.pos == self.goal),
                "state": {"pos": self.pos, "goal": self.goal}}

    def _reset(self, seed: int | None, options: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        rng = random.Random(seed)
        self.pos, self.t = rng.randrange(self.size), 0
        self.goal = rng.choice([g for g in range(self.size) if g != self.pos])
        info = self._info()
        info["optimal_steps"] = abs(self.goal - self.pos)
        return self._obs(), info

    def _step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        self.t += 1
        valid = action in ACTIONS
        if action == "east":
            self.pos = min(self.pos + 1, self.size - 1)
        elif action == "west":
            self.pos = max(self.pos - 1, 0)
        done = self.pos == self.goal
        obs = self._obs() if valid else f"Your action {action!r} was not understood; {self._obs()}"
        return obs, float(done), done, self.t >= self.max_steps and not done, self._info(valid)


envs.register(ENV_ID, entry_point=LineEnv, family="test", instruction_example="reach the goal")


class CrashOnceLineEnv(LineEnv):
    """The line env, whose worker process dies (like a segfaulting NLE) at the first step that finds `crash_file`;
    the file is removed first, so the restarted worker lives on. In the main process it never dies."""

    def __init__(self, crash_file: str = "", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.crash_file = crash_file

    def _step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        import multiprocessing
        import os

        if self.crash_file and multiprocessing.parent_process() is not None and os.path.exists(self.crash_file):
            os.remove(self.crash_file)
            os._exit(3)
        return super()._step(action)


CRASH_ONCE_ID = "credo-test/LineCrashOnce-v0"
envs.register(CRASH_ONCE_ID, entry_point="tests._agent_helpers:CrashOnceLineEnv", family="test",
              instruction_example="reach the goal")


def line_policy(cache_dir: str, **policy_fields: Any) -> Any:
    """A tiny default policy whose tokenizer covers the line env (cached under `cache_dir`)."""
    import os
    from unittest import mock

    import torch

    from agents.policy import Policy, PolicyConfig

    torch.set_num_threads(1)  # tiny model: threads only add overhead (and thrash on a shared machine)
    torch.manual_seed(0)
    # CREDO_CACHE only while the tiny model is built: later tests must not inherit this module's folder
    with mock.patch.dict(os.environ, {"CREDO_CACHE": str(cache_dir)}):
        return Policy.from_config(PolicyConfig(**policy_fields), [ENV_ID])


def randomize_head(model: Any, std: float = 0.3, seed: int = 1) -> None:
    """Give the model's candidate head random weights (a fresh head is zero: every candidate scores alike and no
    gradient reaches the model), as a trained head would have."""
    import torch

    from agents.backbones import score_head

    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in score_head(model).parameters():
            param.copy_(std * torch.randn(param.shape, generator=gen))


def line_config(runs_root: str, **fields: Any) -> Any:
    """A small TrainConfig on the line env (2 iterations of 64 steps by default)."""
    from agents.config import TrainConfig

    data: dict[str, Any] = {"env": ENV_ID, "runs_root": str(runs_root), "num_envs": 4, "steps_per_iter": 64,
                            "max_episode_steps": 12, "total_env_steps": 128, "progress": False, "torch_threads": 1,
                            "learner": {"minibatch_size": 64, "micro_batch_size": 32}}
    data.update(fields)
    return TrainConfig.build(data)
