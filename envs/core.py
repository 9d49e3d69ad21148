"""The text-environment contract every credo env follows (see DESIGN.md, "Text environment").

A credo env is a `gymnasium.Env` whose observations and actions are strings. Subclasses implement
`_reset` and `_step`; the base class enforces the contract around them:
- observations are sanitised into `TEXT_CHARSET`, so they always lie in `observation_space`;
- a non-string action is an invalid action, never an exception;
- every `info` carries the keys of `StepInfo` (missing ones are filled with safe defaults).

One rule decides whether an action names something, in every family: `action_key(action)`, the string with its
case and surrounding whitespace set aside; nothing else is forgiven (brackets, quotes, punctuation, a list holding
the action are all invalid). `invalid_action_note(action)` is what the next observation says about an invalid
action: a short preview, so that a 1 MB reply is not echoed into the next prompt.
"""

from __future__ import annotations

import re
import string
import unicodedata
from typing import Any, ClassVar, TypedDict

import gymnasium as gym
from gymnasium.spaces import Text

TEXT_CHARSET = string.printable
"""Characters a credo observation or action may contain (printable ASCII plus whitespace)."""

MAX_TEXT_LENGTH = 1 << 16
"""Upper bound on the length of an observation or action string."""

_ALLOWED = frozenset(TEXT_CHARSET)
_OUTSIDE = re.compile(f"[^{re.escape(TEXT_CHARSET)}]")
"""Matches a character outside `TEXT_CHARSET` (a C-speed check: observations are rendered every step)."""


def text_space() -> Text:
    """The `gymnasium.spaces.Text` used for observations and actions of every credo env."""
    return Text(MAX_TEXT_LENGTH, min_length=0, charset=TEXT_CHARSET)


def to_text(value: Any) -> str:
    """Turn anything into a string inside `TEXT_CHARSET`: accents are stripped, other characters dropped."""
    s = value if isinstance(value, str) else str(value)
    if _OUTSIDE.search(s) is None:
        return s[:MAX_TEXT_LENGTH]
    s = unicodedata.normalize("NFKD", s)
    return "".join(c for c in s if c in _ALLOWED)[:MAX_TEXT_LENGTH]


class StepInfo(TypedDict, total=False):
    """The `info` dict of `reset` and `step`, field by field. Families may add their own keys."""

    instruction: str
    """The task in words; the same for every step of an episode."""
    admissible_actions: list[str]
    """Actions the env understands now (empty where the env cannot enumerate them)."""
    valid_action: bool
    """Whether the last action was understood and executed (True after `reset`)."""
    success: bool
    """Whether the task has been accomplished (meaningful at episode end)."""
    score: float
    """The env's task metric (e.g. the WebShop score in [0, 1]; for games the normalised score)."""
    state: dict[str, Any]
    """A small JSON-able dict of named symbolic features (what LaRe's code reads and logs show); the keys in the
    env's `outcome_keys` (the outcome or a proxy of it) are left out of what LaRe's code reads by default."""


INFO_DEFAULTS: dict[str, Any] = {
    "instruction": "",
    "admissible_actions": [],
    "valid_action": True,
    "success": False,
    "score": 0.0,
    "state": {},
}

PREVIEW_CHARS = 80
"""How much of an invalid action the next observation quotes."""


class NotText(str):
    """What `_step` receives for a non-string action: its repr (cut), kept for the note, which `action_key` never
    matches, so a non-string is invalid in every family (the int 3 is not NetHack's "3")."""

    kind: str

    def __new__(cls, value: object) -> NotText:
        shown = repr(value)
        self = super().__new__(cls, to_text(shown[:PREVIEW_CHARS] + ("..." if len(shown) > PREVIEW_CHARS else "")))
        self.kind = type(value).__name__
        return self


def action_key(action: str) -> str | None:
    """The form every family matches actions in: case and surrounding whitespace aside, nothing else forgiven.

    Families compare `action_key(action)` with `action_key(name)` of their action names; None (a non-string
    action, see `NotText`) matches nothing.
    """
    return None if isinstance(action, NotText) else action.strip().lower()


def preview(text: str, limit: int = PREVIEW_CHARS) -> str:
    """`text` quoted, cut to `limit` characters with its full length said when longer (notes and error hints)."""
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}... ({len(text):,} characters)"


def invalid_action_note(action: str) -> str:
    """First line of the observation after an invalid action (families may add a hint after it)."""
    shown = f"{action} (a {action.kind}, not text)" if isinstance(action, NotText) else preview(action)
    return f"Your action {shown} was not understood; nothing happened."


class TextEnv(gym.Env[str, str]):
    """Base class of credo text envs: implement `_reset` and `_step`, get the contract for free.

    Class attributes a family sets:
    - `family`: the family name shown by `credo envs list` ("minihack", "webshop", ...);
    - `state_schema`: one line per `info["state"]` key, read by LaRe's prompt and by the docs;
    - `outcome_keys`: the `state_schema` keys that are the episode's outcome or a proxy of it (score, points,
      progression, won, lost, success, return...). LaRe's code never sees them unless `include_outcome=true`
      (credit/lare_state.py), so a learned reward cannot read the reward it is meant to redistribute. Raw
      ingredients of a score (depth, gold, inventory) are state, not outcome, and stay.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["ansi"]}
    family: ClassVar[str] = "custom"
    state_schema: ClassVar[dict[str, str]] = {}
    outcome_keys: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, render_mode: str | None = None) -> None:
        self.observation_space = text_space()
        self.action_space = text_space()
        self.render_mode = render_mode
        self._last_obs = ""

    # -- to implement -------------------------------------------------------------------------
    def _reset(self, seed: int | None, options: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        raise NotImplementedError

    def _step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        raise NotImplementedError

    # -- the contract ---------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, StepInfo]:
        super().reset(seed=seed)
        obs, info = self._reset(seed, dict(options or {}))
        self._last_obs = to_text(obs)
        return self._last_obs, complete_info(info)

    def step(self, action: str) -> tuple[str, float, bool, bool, StepInfo]:
        if not isinstance(action, str):
            action = NotText(action)
        obs, reward, terminated, truncated, info = self._step(action)
        self._last_obs = to_text(obs)
        return self._last_obs, float(reward), bool(terminated), bool(truncated), complete_info(info)

    def render(self) -> str:
        return self._last_obs


def complete_info(info: dict[str, Any]) -> StepInfo:
    """Fill the `StepInfo` keys an env left out, so consumers can rely on all of them."""
    for key, default in INFO_DEFAULTS.items():
        if key not in info:
            info[key] = type(default)() if isinstance(default, (list, dict)) else default
    return info  # type: ignore[return-value]
