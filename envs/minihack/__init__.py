"""MiniHack text envs: every task minihack registers with Gymnasium, as `credo/<MiniHack id>`.

The ids are read from Gymnasium's registry after `import minihack` (no hand-written list), and nothing is
constructed at registration. Boxoban ids are registered with the tag "needs-data": they need the Boxoban
level files, which minihack downloads with its own script (`minihack/scripts/download_boxoban_levels.py`).
"""

from __future__ import annotations

import os
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


def _needs_data(env_id: str) -> bool:
    """Whether `env_id` needs data files minihack does not ship (the Boxoban levels) and they are absent."""
    if "Boxoban" not in env_id:
        return False
    from minihack.envs.boxohack import LEVELS_PATH

    return not os.path.isdir(LEVELS_PATH)


def register_envs() -> None:
    """Register every MiniHack task as `credo/<MiniHack id>`."""
    from envs.minihack.env import instruction_for

    for env_id in minihack_ids():
        tags = ("needs-data",) if _needs_data(env_id) else ()
        register(f"credo/{env_id}", ENTRY_POINT, family="minihack", instruction_example=instruction_for(env_id),
                 action_mode="admissible", kwargs={"task": env_id}, tags=tags)
