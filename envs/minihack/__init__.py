"""MiniHack text envs: every task minihack registers with Gymnasium, as `credo/<MiniHack id>`.

The ids are read from Gymnasium's registry after `import minihack` (no hand-written list), and nothing is
constructed at registration. Boxoban ids work offline: they read levels credo generates in Boxoban's format
unless DeepMind's dataset is there (see `envs.minihack.boxoban_levels`).
"""

from __future__ import annotations

import warnings

import gymnasium as gym

from envs.registry import register

ENTRY_POINT = "envs.minihack.env:MiniHackTextEnv"


def minihack_ids() -> list[str]:
    """Every MiniHack id in Gymnasium's registry (161 with minihack 1.0.2)."""
    with warnings.catch_warnings():  # minihack 1.0.2 imports the deprecated pkg_resources
        warnings.simplefilter("ignore")
        import minihack  # noqa: F401  (registers its ids)
    return [env_id for env_id in gym.registry if env_id.startswith("MiniHack-")]


def register_envs() -> None:
    """Register every MiniHack task as `credo/<MiniHack id>`."""
    from envs.minihack.env import instruction_for

    for env_id in minihack_ids():
        register(f"credo/{env_id}", ENTRY_POINT, family="minihack", instruction_example=instruction_for(env_id),
                 action_mode="admissible", kwargs={"task": env_id})
