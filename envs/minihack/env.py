"""`MiniHackTextEnv`: a MiniHack task as a credo text env (the NLE text layer of `envs.nethack`).

MiniHack specifics handled here:
- success is MiniHack's own: the episode ended with `TASK_SUCCESSFUL` (goal reached or the reward
  manager's events done); `info["score"]` is 1.0 on success else 0.0, and progression 100 or 0 (BALROG);
- the `*-Custom-v0` ids need a level: without `des_file` they get a small default room (see `DEFAULT_DES`);
- MiniGrid-based tasks (MultiRoom, LavaCrossing, SimpleCrossing) are seeded through MiniGrid too, and the
  Crossing ones are built although minihack 1.0.2 passes them a width/height that MiniGrid 3 rejects;
- a task's fixed level seeds (`seeds=[...]`) are sampled from the env's generator, so seeding stays exact;
- NetHack's data files (rumors, engravings, epitaphs...), which MiniHack's level archive drops, are put back
  into each game's HACKDIR (`envs.minihack.datafiles`): no "Can't open 'rumors' file";
- Boxoban ids read generated levels unless the real dataset is there (`envs.minihack.boxoban_levels`), and
  their level is drawn from the env's generator (minihack draws it with the global `random` module), and
  their first reset works under NLE 1.3 (see `_boxoban_reset`).
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

from envs.minihack.boxoban_levels import use_levels
from envs.minihack.datafiles import provide_data_files
from envs.nethack.env import NLETextEnv

DEFAULT_DES = {
    "MiniHack-Navigation-Custom-v0": ("room", ()),
    "MiniHack-Skill-Custom-v0": ("room", (("apple", "%"),)),
}
"""Default level of the Custom ids: a lit 7x5 room, hero in the top-left corner, stairs down in the
bottom-right corner (plus, for the skill id, an apple in the middle). Pass `des_file=` to use your own."""


def default_des(env_id: str) -> str | None:
    """The des-file text of `env_id`'s default level, or None when the id needs none."""
    if env_id not in DEFAULT_DES:
        return None
    from minihack import LevelGenerator

    _, objects = DEFAULT_DES[env_id]
    level = LevelGenerator(w=7, h=5)
    level.set_start_pos((0, 0))
    level.add_goal_pos((6, 4))
    for name, symbol in objects:
        level.add_object(name, symbol, place=(3, 2))
    return level.get_des()


class SeededMiniGrid(gym.Wrapper):
    """A MiniGrid env with the `seed(core)` method MiniHack's MiniGrid tasks call (gymnasium dropped it):
    the seed is used by the next `reset`, so the generated rooms follow the credo env's seed."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self._next_seed: int | None = None

    def seed(self, seed: int | None = None) -> None:
        self._next_seed = None if seed is None else int(seed) % 2**32

    def reset(self, **kwargs: Any) -> Any:
        seed, self._next_seed = self._next_seed, None
        return self.env.reset(seed=seed, **kwargs)


class _MiniGridMaker:
    """Stands in for `gymnasium` inside `minihack.envs.minigrid` while a task is built (see `_minigrid_patch`)."""

    @staticmethod
    def make(env_id: str, width: int | None = None, height: int | None = None, **kwargs: Any) -> gym.Env:
        try:
            env = gym.make(env_id, width=width, height=height, **kwargs)
        except AssertionError:  # Crossing envs take one grid size, not width/height, in MiniGrid 3
            env = gym.make(env_id, **kwargs)
        return SeededMiniGrid(env)


@contextlib.contextmanager
def _minigrid_patch() -> Iterator[None]:
    """Build MiniHack's MiniGrid tasks with `_MiniGridMaker` (only during construction, then restored)."""
    try:
        import minihack.envs.minigrid as module
    except ImportError:
        yield
        return
    original = module.gym
    module.gym = _MiniGridMaker
    try:
        yield
    finally:
        module.gym = original


@contextlib.contextmanager
def _boxoban_reset(raw: Any, rng: np.random.Generator) -> Iterator[None]:
    """Around a Boxoban task's reset: draw its level from `rng`, not the global `random` module (then
    restored), and forget the last level's targets, which NLE 1.3's reset checks before minihack sets them
    (an AttributeError on the first reset, a stale check on later ones)."""
    import minihack.envs.boxohack as module

    if not isinstance(raw, module.BoxoHack):
        yield
        return
    raw._goal_pos_set = None  # compares unequal to any boulder set: the reset's end status is "running"
    module.random = random.Random(int(rng.integers(2**63)))
    try:
        yield
    finally:
        module.random = random


INSTRUCTIONS = {
    "Room": "Reach the staircase down (>).",
    "Corridor": "Explore the rooms and corridors to find the staircase down (>), then stand on it.",
    "KeyRoom": "Pick up the key, open the locked door with it (apply), and reach the staircase down (>).",
    "MazeWalk": "Find your way through the maze to the staircase down (>).",
    "CorridorBattle": "Fight the monsters in the corridor and reach the staircase down (>).",
    "MultiRoom": "Go through the rooms, opening doors, to reach the staircase down (>).",
    "LavaCrossing": "Find the gap in the lava walls and reach the staircase down (>) without touching lava.",
    "SimpleCrossing": "Find the gap in the walls and reach the staircase down (>).",
    "Memento": "Remember the cue at the start and take the matching path to the staircase down (>).",
    "Boxoban": "Push every boulder onto a fountain.",
    "River": "Push boulders into the river to make a crossing, then reach the staircase down (>).",
    "HideNSeek": "Reach the staircase down (>) while hiding from the monsters.",
    "Labyrinth": "Find your way through the labyrinth to the staircase down (>).",
    "ExploreMaze": "Explore the maze and reach the staircase down (>).",
    "Eat": "Eat the apple.",
    "Pray": "Pray to your god.",
    "Sink": "Quaff from the sink.",
    "Wield": "Wield the dagger.",
    "Wear": "Wear the robe.",
    "PutOn": "Put on the amulet or ring.",
    "Zap": "Zap the wand.",
    "Read": "Read the scroll.",
    "ClosedDoor": "Open the closed door and reach the staircase down (>).",
    "LockedDoor": "Kick open the locked door and reach the staircase down (>).",
    "WoD": "Zap the wand of death at the minotaur, then reach the staircase down (>).",
    "Levitate": "Levitate (with the boots, ring or potion) over the water and reach the staircase down (>).",
    "Freeze": "Freeze the lava (wand of cold or frost horn) and cross it to the staircase down (>).",
    "LavaCross": "Cross the lava (levitate over it or freeze it) and reach the staircase down (>).",
    "Quest": "Cross the lava, defeat the monsters and reach the staircase down (>).",
    "Sokoban": "Solve the Sokoban puzzle: push the boulders into the holes and reach the staircase.",
    "Navigation": "Reach the staircase down (>).",
    "Skill": "Reach the staircase down (>).",
}
"""Instruction by the first word of the MiniHack id (MiniHack-<word>-...); the longest matching word wins."""


def instruction_for(minihack_id: str) -> str:
    """The instruction of a MiniHack id (e.g. "MiniHack-LavaCrossingS9N1-v0" matches "LavaCrossing")."""
    word = minihack_id.removeprefix("MiniHack-").split("-", 1)[0]
    matches = [key for key in INSTRUCTIONS if word.startswith(key)]
    return INSTRUCTIONS[max(matches, key=len)] if matches else INSTRUCTIONS["Room"]


class MiniHackTextEnv(NLETextEnv):
    """A MiniHack task with text observations and named actions (see `NLETextEnv` for the contract).

    Reward: MiniHack's own (1 at the goal, or the reward manager's; -0.01 when a move is refused, e.g.
    bumping a wall). `info["score"]` is 1.0 on success, else 0.0.
    """

    family: ClassVar[str] = "minihack"

    def __init__(self, task: str, instruction: str = "", render_mode: str | None = None, **kwargs: Any) -> None:
        if "des_file" not in kwargs and (des := default_des(task)) is not None:
            kwargs["des_file"] = des
        if "boxo" in task.lower():  # the Boxoban ids and minihack's BoxoHack entry point
            use_levels(task)
        with _minigrid_patch():
            super().__init__(task, instruction or instruction_for(task), render_mode, **kwargs)
        provide_data_files(self.raw.nethack._vardir)  # MiniHack's level archive lacks rumors, engravings...

    def _seed_task(self, core: int, disp: int) -> None:
        level_seeds = getattr(self.raw, "_level_seeds", None)
        if level_seeds:
            core = disp = int(level_seeds[int(self.np_random.integers(len(level_seeds)))])
        self.raw.seed(core, disp, reseed=False)

    def _raw_reset(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        if getattr(self.raw, "_level_seeds", None):
            return self.raw.reset(sample_seed=False)
        with _boxoban_reset(self.raw, self.np_random):  # BoxoHack.reset takes no `sample_seed`
            return self.raw.reset()

    def _reset(self, seed: int | None, options: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        self._key_held = False
        return super()._reset(seed, options)

    def _info(self, raw_info: dict[str, Any], success: bool, valid: bool) -> dict[str, Any]:
        """Adds `info["subgoals"]` on tasks with a key (KeyRoom...): {"key": 1.0 once the key was ever carried},
        the sub-goal a credit method can raise before the task's own success does."""
        info = super()._info(raw_info, success, valid)
        if "key" in self.task.lower():
            items = self._state.get("inventory", {}).values()
            self._key_held = self._key_held or any(" key" in f" {item}" for item in items)
            info["subgoals"] = {"key": float(self._key_held)}
        return info

    def _progress(self, state: dict[str, Any], raw_info: dict[str, Any], success: bool) -> float:
        return 100.0 if success else 0.0

    def _score(self, success: bool) -> float:
        return 1.0 if success else 0.0
