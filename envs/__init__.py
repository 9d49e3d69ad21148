"""Text environments: every credo env is a Gymnasium env with text observations and text actions.

`import envs` registers all families under the `credo/` namespace; `envs.make(id)` makes one.
Families live in their own sub-packages, each exposing `register_envs()`.
"""

from __future__ import annotations

import importlib
import logging

from envs.core import INFO_DEFAULTS, StepInfo, TextEnv, complete_info, text_space, to_text
from envs.registry import EnvCard, card, cards, load_plugins, make, register

log = logging.getLogger(__name__)

FAMILIES = ("envs.minihack", "envs.nethack", "envs.textworld", "envs.webshop")
"""Sub-packages whose `register_envs()` runs on `import envs`."""

for _name in FAMILIES:
    try:
        importlib.import_module(_name).register_envs()
    except ModuleNotFoundError as _err:  # a family whose optional dependency is missing stays unregistered
        log.warning("env family %s not available: %s", _name, _err)

__all__ = [
    "INFO_DEFAULTS", "EnvCard", "StepInfo", "TextEnv", "card", "cards", "complete_info", "load_plugins", "make",
    "register", "text_space", "to_text",
]
