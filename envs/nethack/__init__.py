"""NetHack text envs: NLE's tasks and the ONI paper's variants, under `credo/NetHack...-v0`.

The text layer (`text.py`, `actions.py`, `env.py`) is shared with `envs.minihack`. Registration is cheap:
nothing is constructed until `envs.make`.
"""

from __future__ import annotations

from envs.registry import register

ENTRY_POINT = "envs.nethack.env:NLETextEnv"

TASKS: dict[str, tuple[str, str]] = {
    "NetHackScore-v0": ("NetHackScore-v0", "Get the highest in-game score: explore, descend, fight and collect gold."),
    "NetHackStaircase-v0": ("NetHackStaircase-v0", "Find the staircase down (>) and stand on it."),
    "NetHackStaircasePet-v0": ("NetHackStaircasePet-v0",
                               "Stand on the staircase down (>) with your pet next to you."),
    "NetHackOracle-v0": ("NetHackOracle-v0", "Find the Oracle (deep in the dungeon) and stand next to it."),
    "NetHackGold-v0": ("NetHackGold-v0", "Collect as much gold as you can."),
    "NetHackEat-v0": ("NetHackEat-v0", "Eat as much as you can: find and eat food."),
    "NetHackScout-v0": ("NetHackScout-v0", "Explore: reveal as many map cells on as many levels as you can."),
    "NetHackChallenge-v0": ("NetHackChallenge-v0", "Play NetHack with a random character: go as deep and far as you can."),
    "NetHackStaircaseLvl3-v0": ("envs.nethack.tasks:StaircaseLvl3", "Go down the stairs until you reach dungeon level 3."),
    "NetHackStaircaseLvl4-v0": ("envs.nethack.tasks:StaircaseLvl4", "Go down the stairs until you reach dungeon level 4."),
    "NetHackScoreExtendedActions-v0": ("envs.nethack.tasks:ScoreExtendedActions",
                                       "Get the highest in-game score: explore, descend, fight and collect gold."),
    "NetHackStaircaseLvl3ExtendedActions-v0": ("envs.nethack.tasks:StaircaseLvl3ExtendedActions",
                                               "Go down the stairs until you reach dungeon level 3."),
    "NetHackStaircaseLvl4ExtendedActions-v0": ("envs.nethack.tasks:StaircaseLvl4ExtendedActions",
                                               "Go down the stairs until you reach dungeon level 4."),
    "NetHackOracleExtendedActions-v0": ("envs.nethack.tasks:OracleExtendedActions",
                                        "Find the Oracle (deep in the dungeon) and stand next to it."),
}
"""credo id (without `credo/`) -> (NLE task id or entry point, instruction)."""

TASK_KWARGS: dict[str, dict[str, object]] = {
    # NetHackChallenge lets every --More-- and menu through to the agent (allow_all_modes=True); credo's
    # contract is that the agent never presses a key to read, so NLE's known-steps handling is switched on.
    "NetHackChallenge-v0": {"allow_all_modes": False},
}
"""Extra NLE keyword arguments of some tasks."""


def register_envs() -> None:
    """Register every NetHack task as `credo/<name>`."""
    for name, (task, instruction) in TASKS.items():
        tags = ("oni",) if task.startswith("envs.") else ("nle",)
        register(f"credo/{name}", ENTRY_POINT, family="nethack", instruction_example=instruction,
                 action_mode="admissible", kwargs={"task": task, "instruction": instruction, **TASK_KWARGS.get(name, {})}, tags=tags)
