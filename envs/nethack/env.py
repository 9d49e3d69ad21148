"""`NLETextEnv`: any NLE or MiniHack task as a credo text env (one implementation for both families).

The wrapped task is an ordinary NLE env (`nle.env.base.NLE` subclass), made from a Gymnasium id or a
`module:Class` entry point; this class adds the text contract around it:
- observations are rendered by `envs.nethack.text` (message, what surrounds the hero, stats, inventory, crop);
- actions are names parsed by `envs.nethack.actions.ActionSet` over the task's own action set;
- `--More--` never reaches the agent: NLE presses it, and every message shown on the way is kept (joined in
  order) in the observation and `info["state"]["message"]`;
- while NetHack waits for a one-key answer ("What do you want to eat? [fg or ?*]"), a "Keys: f = fire,
  g = rush" line says which named action presses each offered key;
- an action that names nothing in the set does NOT step NetHack: reward 0, `valid_action=False`, the next
  observation starts with the not-understood note, and the step counts toward the step cap.
"""

from __future__ import annotations

from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium.envs.registration import load_env_creator
from nle import nethack

from credo.config import ConfigError
from envs.core import TextEnv, invalid_action_note
from envs.nethack.actions import ActionSet
from envs.nethack.progression import progression
from envs.nethack.text import Renderer, StateFeatures, TextOptions, decode, shortest_path_length, stats_state

TASK_SUCCESSFUL = 2
"""NLE's `StepStatus.TASK_SUCCESSFUL` (tasks without a goal, such as Score, never return it)."""
ABORTED = -1
"""NLE's `StepStatus.ABORTED`: the task's step cap was reached."""
OBSERVATION_KEYS = ("glyphs", "chars", "blstats", "message", "inv_strs", "inv_letters")
"""The NLE observation keys the text is rendered from."""


def make_task(task: str, **kwargs: Any) -> Any:
    """The raw NLE env of `task`: a Gymnasium id ("NetHackScore-v0") or an entry point ("pkg.mod:Class").

    A keyword the task does not take is a one-line `ConfigError` naming it.
    """
    try:
        if ":" in task:
            return load_env_creator(task)(**kwargs)
        return gym.make(task, disable_env_checker=True, **kwargs).unwrapped
    except TypeError as err:
        if "unexpected keyword argument" not in str(err):
            raise
        raise ConfigError(f"{task} options: {err}") from None


class NLETextEnv(TextEnv):
    """An NLE/MiniHack task with text observations and named actions.

    Args:
        task: Gymnasium id or `module:Class` entry point of the NLE task to wrap.
        instruction: the task in words (`info["instruction"]`).
        render_mode: only "ansi" (the last observation text) is supported.
        **kwargs: `TextOptions` fields (stats, inventory, crop, compact, max_entities, max_per_kind);
            everything else goes to the NLE task (e.g. `max_episode_steps`, `character`, `actions`).

    `info` adds to the contract keys: `progression` (BALROG, 0-100, running max), `end_status` (NLE's
    StepStatus: -1 aborted at the step cap, 0 running, 1 death, 2 task successful) and, in the reset info
    when a staircase down is visible, `optimal_steps` (fewest 8-way moves to it, for path efficiency).
    The episode's step cap is the task's `max_episode_steps`; invalid actions count toward it.

    Rewards are the task's own (NLE/MiniHack reward functions, unchanged). Seeding: `reset(seed=s)` seeds
    NetHack's core and display RNGs from `s` (and `fix_moon_phase=True` by default), so the same seed gives
    the same episode; unseeded resets draw fresh seeds from the env's generator.
    """

    family: ClassVar[str] = "nethack"
    state_schema: ClassVar[dict[str, str]] = {
        "hp": "hit points now", "hp_max": "maximum hit points",
        "energy": "spell energy now", "energy_max": "maximum spell energy",
        "ac": "armour class (lower is better)", "strength": "strength (3-25)",
        "depth": "dungeon depth (1 at the start, grows going down)",
        "dungeon_number": "which dungeon branch (0 = the main Dungeons of Doom)",
        "dungeon_level": "level number inside the current branch",
        "gold": "gold pieces carried", "xp_level": "experience level", "xp_points": "experience points",
        "score": "in-game score (shown on the bottom line)", "time": "game turns elapsed",
        "hunger": "satiated, not hungry, hungry, weak, fainting, fainted or starved",
        "encumbrance": "unencumbered, burdened, stressed, strained, overtaxed or overloaded",
        "conditions": "list of active conditions (blind, conf, stun, hallu, lev, fly...)",
        "x": "hero column on the 79x21 map", "y": "hero row on the 79x21 map (0 is the top)",
        "message": "the game messages of this step, joined in order (those behind --More-- included)",
        "inventory": "carried items by inventory letter, as NetHack names them, e.g. {\"a\": \"a +0 short sword "
                     "(weapon in hand)\", \"g\": \"a key named The Master Key of Thievery\"} ({} when empty)",
        "objects": "the visible things nearest the hero (at most 12, nearest first, at most 3 of one name, the hero's "
                   "own square left out): a list of {\"name\", \"kind\", \"dx\", \"dy\", \"dist\"}; name as the "
                   "game shows it (\"key\", \"staircase down\", \"staircase up\", \"closed door\", \"locked door\" "
                   "(once the game said so), \"open door\", \"doorway\", \"fountain\", \"altar\", \"gold piece\", "
                   "\"jackal\", \"tame kitten\"...; unidentified potions, scrolls, rings, wands, amulets, spellbooks and "
                   "armour by class), kind \"monster\", \"object\" or \"feature\", dx columns east (+) or west (-) of "
                   "the hero, dy rows south (+) or north (-), dist = max(|dx|, |dy|) (moves, walls ignored)",
        "progression": "BALROG progression 0-100 reached so far in the episode (deepest level / highest xp level)",
    }
    outcome_keys: ClassVar[frozenset[str]] = frozenset({"score", "progression"})
    """The in-game score (NetHackScore's reward is its change) and BALROG progression (MiniHack: 100 on success)."""

    def __init__(self, task: str, instruction: str = "", render_mode: str | None = None, **kwargs: Any) -> None:
        super().__init__(render_mode=render_mode)
        option_keys = TextOptions.model_fields.keys() & kwargs.keys()
        self.options = TextOptions.build({k: kwargs.pop(k) for k in option_keys}, source=f"{task} options")
        kwargs.setdefault("observation_keys", OBSERVATION_KEYS)
        kwargs.setdefault("fix_moon_phase", True)
        self.task = task
        self.instruction = instruction
        self.raw = make_task(task, **kwargs)
        self.action_set = ActionSet(self.raw.actions)
        show_inventory = self.options.inventory
        if show_inventory is None:
            show_inventory = self.action_set.uses_items()
        self.renderer = Renderer(self.options, show_inventory)
        self.features = StateFeatures()
        self.max_episode_steps = int(self.raw._max_episode_steps)
        self._messages: list[bytes] = []
        self._hook_messages()
        self._steps = 0
        self._progression = 0.0
        self._obs: dict[str, np.ndarray] = {}
        self._state: dict[str, Any] = {}
        self._text = ""

    # -- messages --------------------------------------------------------------------------------
    def _hook_messages(self) -> None:
        """Record the message after every keypress NLE sends (its own `--More--` presses included).

        NLE answers `--More--` itself inside `step` and drops the message it hid; wrapping the game's
        `step` on this instance is the one place that sees them all. `_quit_game` (NLE ending a finished
        task) is wrapped so its "Really quit?" dialogue stays out of the text.
        """
        raw, nh = self.raw, self.raw.nethack
        index = raw._message_index
        game_step, quit_game = nh.step, raw._quit_game
        recording = [True]

        def step(key: int) -> tuple[Any, bool]:
            observation, done = game_step(key)
            message = observation[index]
            if recording[0] and message[0]:
                text = message.tobytes()
                if not self._messages or self._messages[-1] != text:
                    self._messages.append(text)
            return observation, done

        def quietly_quit(observation: Any, done: bool) -> None:
            recording[0] = False
            try:
                quit_game(observation, done)
            finally:
                recording[0] = True

        nh.step = step
        raw._quit_game = quietly_quit

    def _message(self) -> str:
        """The messages recorded since the last call, joined in order (then cleared)."""
        current = self._obs["message"].tobytes()
        if current[0] and (not self._messages or self._messages[-1] != current):
            self._messages.append(current)
        text = " ".join(decode(m) for m in self._messages)
        self._messages.clear()
        return text

    # -- the contract ------------------------------------------------------------------------------
    def _reset(self, seed: int | None, options: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        core, disp = (int(s) for s in self.np_random.integers(0, 2**62, size=2))
        self._seed_task(core, disp)
        self._messages.clear()
        self._steps = 0
        self._progression = 0.0
        self.features.reset()
        obs, raw_info = self._raw_reset()
        text = self._observe(obs, raw_info, success=False)
        info = self._info(raw_info, success=False, valid=True)
        optimal = shortest_path_length(obs["glyphs"], self._state["x"], self._state["y"])
        if optimal is not None:
            info["optimal_steps"] = optimal
        return text, info

    def _seed_task(self, core: int, disp: int) -> None:
        """Seed NetHack's RNGs for the next reset (MiniHack overrides this for its fixed level seeds).

        NetHackChallenge refuses seeds (the NeurIPS 2021 competition's rule, enforced by replacing the game's
        seeding methods on the instance); credo's contract is same seed, same episode, so the game's class
        method seeds it anyway.
        """
        try:
            self.raw.seed(core, disp, reseed=False)
        except RuntimeError:
            type(self.raw.nethack).set_initial_seeds(self.raw.nethack, core, disp, False)

    def _raw_reset(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        return self.raw.reset()

    def _step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        self._steps += 1
        index = self.action_set.parse(action)
        if index is None:
            note = invalid_action_note(action) + " Choose one of the listed actions."
            truncated = self._steps >= self.max_episode_steps
            info = self._info({}, success=False, valid=False)
            return f"{note}\n{self._text}", 0.0, False, truncated, info
        obs, reward, done, _, raw_info = self.raw.step(index)
        end_status = int(raw_info.get("end_status", 0))
        success = end_status == TASK_SUCCESSFUL or bool(raw_info.get("is_ascended", False))
        truncated = end_status == ABORTED or (self._steps >= self.max_episode_steps and not done)
        terminated = bool(done) and not truncated
        text = self._observe(obs, raw_info, success)
        return text, float(reward), terminated, truncated, self._info(raw_info, success=success, valid=True)

    def _observe(self, obs: dict[str, np.ndarray], raw_info: dict[str, Any], success: bool) -> str:
        """Update the state from a raw observation and render its text."""
        self._obs = obs
        live = bool(obs["blstats"][nethack.NLE_BL_DEPTH])  # 0 once the game has ended: NLE's arrays are blank
        state = stats_state(obs["blstats"]) if live or not self._state else dict(self._state)
        state["message"] = self._message()
        if live:
            inventory = "inv_strs" in obs and "inv_letters" in obs
            state["inventory"] = self.features.inventory(obs["inv_letters"], obs["inv_strs"]) if inventory else {}
            state["objects"] = self.features.objects(obs["glyphs"], state["x"], state["y"], state["message"])
        else:  # the game is over: the last live state's inventory and surroundings (if any) stay
            state.setdefault("inventory", {})
            state.setdefault("objects", [])
        self._progression = max(self._progression, self._progress(state, raw_info, success))
        state["progression"] = self._progression
        self._state = state
        raw = self.raw
        asking = raw.last_observation and raw.last_observation[raw._internal_index][1]
        hint = self.action_set.key_hint(state["message"]) if asking else ""
        self._text = self.renderer.render(obs if live else None, state["message"], state, hint)
        return self._text

    def _progress(self, state: dict[str, Any], raw_info: dict[str, Any], success: bool) -> float:
        """BALROG progression of one state (MiniHack overrides: 100 on success, else 0)."""
        return progression(state["depth"], state["xp_level"], bool(raw_info.get("is_ascended", False)))

    def _score(self, success: bool) -> float:
        """`info["score"]`: the in-game score (MiniHack overrides: 1 on success, else 0)."""
        return float(self._state["score"])

    def _info(self, raw_info: dict[str, Any], success: bool, valid: bool) -> dict[str, Any]:
        return {
            "instruction": self.instruction,
            "admissible_actions": list(self.action_set.names),
            "valid_action": valid,
            "success": success,
            "score": self._score(success),
            "state": dict(self._state),
            "progression": self._progression,
            "end_status": int(raw_info.get("end_status", 0)),
        }

    def close(self) -> None:
        if getattr(self, "raw", None) is not None:
            self.raw.close()
            self.raw = None
        super().close()
