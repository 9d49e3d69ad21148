"""Register and make credo envs: Gymnasium's registry plus a card per env for `credo envs list`.

Registering an env is one call, never an edit to an if/elif chain:

    envs.register("credo/MyTask-v0", entry_point="my_pkg.env:MyTextEnv", family="my_pkg",
                  instruction_example="reach the exit")

Third-party packages register theirs through a `credo.envs` entry point (a function that calls
`envs.register`); `load_plugins()` runs them, and a broken plugin is reported, not fatal.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

import gymnasium as gym

log = logging.getLogger(__name__)

PLUGIN_GROUP = "credo.envs"


@dataclass(frozen=True)
class EnvCard:
    """What `credo envs list` shows about one env id."""

    id: str
    family: str
    instruction_example: str = ""
    action_mode: str = "admissible"
    """"admissible": the env lists its actions (choose mode works); "free": free text only."""
    tags: tuple[str, ...] = field(default_factory=tuple)


_CARDS: dict[str, EnvCard] = {}
_plugins_loaded = False
_plugin_errors: list[str] = []


def register(id: str, entry_point: Any, *, family: str, instruction_example: str = "",
             action_mode: str = "admissible", kwargs: dict[str, Any] | None = None,
             tags: tuple[str, ...] = ()) -> None:
    """Register `id` with Gymnasium (so `gymnasium.make(id)` works) and record its card."""
    if action_mode not in ("admissible", "free"):
        raise ValueError(f"register {id}: action_mode must be 'admissible' or 'free', got {action_mode!r}")
    if id not in gym.registry:
        gym.register(id=id, entry_point=entry_point, kwargs=kwargs or {}, disable_env_checker=True)
    _CARDS[id] = EnvCard(id, family, instruction_example, action_mode, tuple(tags))


def load_plugins() -> list[str]:
    """Run every `credo.envs` entry point once; returns one line per plugin that failed."""
    global _plugins_loaded
    if not _plugins_loaded:
        _plugins_loaded = True
        for ep in entry_points(group=PLUGIN_GROUP):
            try:
                ep.load()()
            except Exception as err:  # a broken third-party plugin must not take credo down
                line = f"plugin {ep.name} ({ep.value}): {type(err).__name__}: {err}"
                _plugin_errors.append(line)
                log.warning(line)
    return list(_plugin_errors)


def cards() -> dict[str, EnvCard]:
    """All registered credo env cards, plugins included, sorted by id."""
    load_plugins()
    return dict(sorted(_CARDS.items()))


def card(env_id: str) -> EnvCard:
    """The card of one env id; a one-line `KeyError` naming close matches when unknown."""
    all_cards = cards()
    if env_id not in all_cards:
        from difflib import get_close_matches

        near = get_close_matches(env_id, list(all_cards), n=3)
        hint = f"; did you mean {', '.join(near)}?" if near else "; see `credo envs list`"
        raise KeyError(f"unknown env id {env_id!r}{hint}")
    return all_cards[env_id]


def make(env_id: str, **kwargs: Any) -> gym.Env:
    """`gymnasium.make` for a credo id (plugins loaded first); unknown ids give a one-line error."""
    card(env_id)
    return gym.make(env_id, **kwargs)
