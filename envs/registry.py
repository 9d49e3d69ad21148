"""Register and make credo envs: Gymnasium's registry plus a card per env for `credo envs list`.

Registering an env is one call, never an edit to an if/elif chain:

    envs.register("credo/MyTask-v0", entry_point="my_pkg.env:MyTextEnv", family="my_pkg",
                  instruction_example="reach the exit")

Third-party packages register theirs through a `credo.envs` entry point (a function that calls
`envs.register`); `load_plugins()` runs them, and a broken plugin is reported, not fatal.

Any other Gymnasium id works too when its env speaks the text contract (text observation and action spaces): a
plug-in that called plain `gymnasium.register`, or an id registered in your own code. Its card is derived from the
env itself (`derive_card`: one make and reset); an id whose env does not speak the contract is a one-line error
saying what is missing. Ids a plug-in registered that way are listed by `cards()`; other Gymnasium ids (gymnasium
ships dozens of non-text ones) are looked at only when asked for by name.
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
_plugin_gym_ids: set[str] = set()
"""Ids plug-ins registered with plain `gymnasium.register` (their cards are derived on first use)."""
_not_text: dict[str, str] = {}
"""Gymnasium ids already found not to speak the text contract, with the reason (each env is made once)."""
README_HINT = "see envs/README.md (envs.adapter.register_adapted turns any Gymnasium env into a text env)"


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
            before = set(gym.registry)
            try:
                ep.load()()
            except Exception as err:  # a broken third-party plugin must not take credo down
                line = f"plugin {ep.name} ({ep.value}): {type(err).__name__}: {err}"
                _plugin_errors.append(line)
                log.warning(line)
            _plugin_gym_ids.update(set(gym.registry) - before - set(_CARDS))
    return list(_plugin_errors)


def derive_card(env_id: str) -> EnvCard:
    """The card of a Gymnasium id nobody called `envs.register` for, read from the env (one make and reset).

    Family: the env's `family` attribute (a `TextEnv` has one), else the id's namespace. A one-line `ValueError`
    says what is missing when the env does not speak the text contract.
    """
    if env_id in _not_text:
        raise ValueError(_not_text[env_id])
    try:
        env = gym.make(env_id, disable_env_checker=True)
    except Exception as err:
        detail = (str(err).strip().splitlines() or [""])[0][:200]
        raise ValueError(f"{env_id}: could not make it: {type(err).__name__}: {detail}") from None
    try:
        missing = [f"its {name} is a {type(space).__name__}, not gymnasium.spaces.Text" for name, space in
                   (("observation space", env.observation_space), ("action space", env.action_space))
                   if not isinstance(space, gym.spaces.Text)]
        obs, info = env.reset(seed=0) if not missing else (None, None)
        if not missing and not isinstance(obs, str):
            missing.append(f"reset returns a {type(obs).__name__} observation, not str")
        if not missing and not isinstance(info, dict):
            missing.append(f"reset returns a {type(info).__name__} info, not dict")
    finally:
        env.close()
    if missing:
        _not_text[env_id] = f"{env_id} is a Gymnasium env but not a credo text env: {'; '.join(missing)}; {README_HINT}"
        raise ValueError(_not_text[env_id])
    family = getattr(env.unwrapped, "family", None) or (gym.spec(env_id).namespace or "gymnasium")
    actions = info.get("admissible_actions")
    return EnvCard(env_id, str(family), str(info.get("instruction", "")),
                   "admissible" if isinstance(actions, list) and actions else "free", ("derived",))


def _derive_plugin_cards() -> None:
    """Cards for ids plug-ins registered with plain `gymnasium.register`; one that fails is a plug-in error."""
    for env_id in sorted(_plugin_gym_ids - set(_CARDS)):
        _plugin_gym_ids.discard(env_id)
        try:
            _CARDS[env_id] = derive_card(env_id)
        except ValueError as err:
            _plugin_errors.append(f"plugin env {err}")
            log.warning("plugin env %s", err)


def cards() -> dict[str, EnvCard]:
    """All registered credo env cards, plugins included (those registered with plain Gymnasium too), by id."""
    load_plugins()
    _derive_plugin_cards()
    return dict(sorted(_CARDS.items()))


def card(env_id: str) -> EnvCard:
    """The card of one env id: registered, or derived from a Gymnasium id whose env speaks the text contract.

    A one-line `KeyError` naming close matches when the id is unknown; a one-line `ValueError` saying what is
    missing when it is a Gymnasium id whose env is not a text env.
    """
    all_cards = cards()
    if env_id in all_cards:
        return all_cards[env_id]
    if env_id in gym.registry:
        _CARDS[env_id] = derive_card(env_id)
        return _CARDS[env_id]
    from difflib import get_close_matches

    near = get_close_matches(env_id, list(all_cards), n=3)
    hint = f"; did you mean {', '.join(near)}?" if near else "; see `credo envs list`"
    raise KeyError(f"unknown env id {env_id!r}{hint}")


def make(env_id: str, **kwargs: Any) -> gym.Env:
    """`gymnasium.make` for a credo id (plugins loaded first); unknown ids give a one-line error."""
    card(env_id)
    return gym.make(env_id, **kwargs)
