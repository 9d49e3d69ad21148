"""Make any existing Gymnasium env a credo text env by supplying a few functions.

    from envs.adapter import NamedActions, register_adapted

    moves = NamedActions(["left", "down", "right", "up"])          # Discrete(4) <-> names
    register_adapted("credo/FrozenLake-v0", "FrozenLake-v1",
                     obs_to_text=lambda obs, info: f"You are on tile {obs}.",   # use module-level functions
                     text_to_action=moves.to_action, admissible_actions=moves.admissible,
                     instruction="Walk from the start to the goal without falling into a hole.")

`text_to_action` raises `ValueError` or `KeyError` for text it cannot parse: the adapter turns that into an
invalid action (nothing happens, the step counts, `valid_action=False`, the next observation says so).
Functions given to `register_adapted` must be importable (module-level functions, or methods of module-level
objects) so that subprocess env pools can rebuild the env in their workers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from functools import partial
from typing import Any, ClassVar

import gymnasium as gym

from envs.core import PREVIEW_CHARS, TextEnv, action_key, invalid_action_note
from envs.registry import register

ObsToText = Callable[[Any, dict[str, Any]], str]
TextToAction = Callable[[str], Any]
Admissible = Callable[[gym.Env, Any, dict[str, Any]], list[str]]
StateFn = Callable[[gym.Env, Any, dict[str, Any]], dict[str, Any]]
SuccessFn = Callable[[Any, float, bool, dict[str, Any]], bool]


def default_success(obs: Any, reward: float, terminated: bool, info: dict[str, Any]) -> bool:
    """The base env's `is_success`/`success` info flag if it has one, else "ended with a positive reward"."""
    for key in ("is_success", "success"):
        if key in info:
            return bool(info[key])
    return bool(terminated and reward > 0)


class NamedActions:
    """Names for the actions of a `Discrete(n)` space: `to_action("up")` -> 3, `admissible(...)` -> the names."""

    def __init__(self, names: Sequence[str], start: int = 0) -> None:
        if len(set(names)) != len(names):
            raise ValueError(f"action names must be unique, got {list(names)}")
        self.names = list(names)
        self.start = start
        self._index = {action_key(name): start + k for k, name in enumerate(self.names)}

    def to_action(self, text: str) -> int:
        """The action for a name (credo's one rule, `action_key`); `KeyError` naming the choices otherwise."""
        key = action_key(text)
        if key is None or key not in self._index:
            raise KeyError(f"Expected one of {', '.join(self.names)}.")
        return self._index[key]

    def admissible(self, env: gym.Env, obs: Any, info: dict[str, Any]) -> list[str]:
        """Every name is always admissible."""
        return list(self.names)


class GymAdapter(TextEnv):
    """A Gymnasium env with any spaces, seen through text: the base env does the work, functions translate.

    `env` is a Gymnasium id (made with `gymnasium.make(env, **env_kwargs)`) or a callable returning an env.
    `instruction` is a fixed string or a function of `(obs, info)`. `state` returns the JSON-able
    `info["state"]` (default: step count and return so far); `outcome_keys` names its keys that are the outcome
    or a proxy of it, which LaRe's code does not read (default: `return`). `max_steps` caps an episode, invalid
    actions included (the base env's own time limit still applies to the steps it sees).
    """

    family: ClassVar[str] = "adapted"
    state_schema: ClassVar[dict[str, str]] = {"steps": "steps taken, invalid ones included",
                                             "return": "sum of rewards so far"}
    outcome_keys: ClassVar[frozenset[str]] = frozenset({"return"})

    def __init__(self, env: str | Callable[[], gym.Env], obs_to_text: ObsToText, text_to_action: TextToAction,
                 admissible_actions: Admissible, instruction: str | Callable[[Any, dict[str, Any]], str] = "",
                 state: StateFn | None = None, success: SuccessFn = default_success, max_steps: int | None = None,
                 env_kwargs: dict[str, Any] | None = None, render_mode: str | None = None,
                 outcome_keys: Iterable[str] | None = None) -> None:
        super().__init__(render_mode)
        if outcome_keys is not None:
            self.outcome_keys = frozenset(outcome_keys)  # type: ignore[misc]
        self.base = gym.make(env, **(env_kwargs or {})) if isinstance(env, str) else env()
        self.obs_to_text, self.text_to_action = obs_to_text, text_to_action
        self.admissible_fn, self.instruction, self.state_fn = admissible_actions, instruction, state
        self.success_fn, self.max_steps = success, max_steps
        self._obs: Any = None
        self._base_info: dict[str, Any] = {}
        self._instruction = ""
        self._steps = 0
        self._return = 0.0

    def _info(self, valid: bool, success: bool) -> dict[str, Any]:
        obs, info = self._obs, self._base_info
        state = (self.state_fn(self.base, obs, info) if self.state_fn
                 else {"steps": self._steps, "return": self._return})
        return {"instruction": self._instruction, "admissible_actions": list(self.admissible_fn(self.base, obs, info)),
                "valid_action": valid, "success": success, "score": float(success), "state": state}

    def _reset(self, seed: int | None, options: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        self._obs, self._base_info = self.base.reset(seed=seed, options=options or None)
        self._steps, self._return = 0, 0.0
        ins = self.instruction
        self._instruction = ins(self._obs, self._base_info) if callable(ins) else ins
        return self.obs_to_text(self._obs, self._base_info), self._info(valid=True, success=False)

    def _step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        self._steps += 1
        capped = self.max_steps is not None and self._steps >= self.max_steps
        hint: str | None = "" if action_key(action) is None else None  # a non-string never reaches text_to_action
        if hint is None:
            try:
                base_action = self.text_to_action(action)
            except (ValueError, KeyError) as err:
                hint = str(err.args[0])[:2 * PREVIEW_CHARS] if err.args else ""  # it may quote the action: kept short
        if hint is not None:
            obs = f"{invalid_action_note(action)} {hint}\n{self.obs_to_text(self._obs, self._base_info)}"
            return obs, 0.0, False, capped, self._info(valid=False, success=False)
        self._obs, reward, terminated, truncated, self._base_info = self.base.step(base_action)
        self._return += float(reward)
        success = self.success_fn(self._obs, float(reward), bool(terminated), self._base_info)
        obs = self.obs_to_text(self._obs, self._base_info)
        return obs, float(reward), terminated, bool(truncated) or capped, self._info(valid=True, success=success)

    def close(self) -> None:
        self.base.close()


def register_adapted(id: str, env: str | Callable[[], gym.Env], *, obs_to_text: ObsToText,
                     text_to_action: TextToAction, admissible_actions: Admissible,
                     instruction: str | Callable[[Any, dict[str, Any]], str] = "", family: str = "adapted",
                     instruction_example: str = "", **adapter_kwargs: Any) -> None:
    """Register `id` as `GymAdapter(env, ...)`: one call turns a Gymnasium env into a credo env."""
    entry_point = partial(GymAdapter, env, obs_to_text, text_to_action, admissible_actions, instruction,
                          **adapter_kwargs)
    example = instruction_example or (instruction if isinstance(instruction, str) else "")
    register(id, entry_point=entry_point, family=family, instruction_example=example)
