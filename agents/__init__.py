"""The agent side of credo: policy, prompts, rollout, advantages, PPO learner, trainer, runs.

`agents.Trainer(agents.TrainConfig(...)).train()` mirrors `credo train`. The names are imported lazily so that
`import agents` (done by the CLI) does not pull in torch and transformers.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_LAZY = {"Trainer": "agents.trainer", "TrainConfig": "agents.config", "Policy": "agents.policy",
         "PolicyConfig": "agents.policy", "Rollout": "agents.rollout", "RunDir": "agents.runs"}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'agents' has no attribute {name!r}")
