"""Issue 18.5/18.6: one action rule for every env family, and a short preview of an invalid action.

The rule (`envs.core.action_key`): an action names something when it equals a name with case and surrounding
whitespace aside; a non-string is invalid; nothing else is forgiven. MiniHack/NetHack used to run `north` for
`['north']`, `('north',)`, `'[north]'`, `"'north'"` and `'north!!'`, and a 1 MB invalid action was echoed whole
into the next observation (65,536 characters, the text space's limit).
"""

from __future__ import annotations

import pytest

import envs
from envs.check import loose_forms
from envs.core import PREVIEW_CHARS, NotText, action_key, invalid_action_note, preview
from tests.test_env_adapter_plugin import LAKE_ID

FAMILY_IDS = ["credo/MiniHack-Room-5x5-v0", "credo/NetHackScore-v0", "credo/WebShop-v0",
              "credo/TextWorld-TreasureHunter-L1-v0", LAKE_ID]


@pytest.fixture(params=FAMILY_IDS)
def env(request, tw_cache):
    if request.param not in envs.cards():
        pytest.skip(f"{request.param}: family not installed")
    env = envs.make(request.param)
    yield env
    env.close()


def test_every_family_follows_the_one_rule(env):
    _, info = env.reset(seed=0)
    action = "north" if "north" in info["admissible_actions"] else info["admissible_actions"][0]
    for form in [*loose_forms(action), f'"{action}"', f"{action} please", f"{action}\x00"]:
        obs, reward, _, _, info = env.step(form)
        assert info["valid_action"] is False, form
        assert reward == 0.0 and "not understood" in obs
    _, _, _, _, info = env.step(f" \t{action.upper()} \n")
    assert info["valid_action"] is True


def test_a_non_string_is_invalid_even_when_its_text_names_an_action(env):
    _, info = env.reset(seed=0)
    numbers = [a for a in info["admissible_actions"] if a.isdigit()]  # NetHack's "3" key: not the int 3
    for action in [int(numbers[0]) if numbers else 3, None, b"north", {"action": "north"}]:
        obs, _, _, _, info = env.step(action)
        assert info["valid_action"] is False, action
        assert obs.startswith(f"Your action {NotText(action)} (a {type(action).__name__}, not text)")


def test_a_huge_invalid_action_is_echoed_as_a_short_preview(env):
    env.reset(seed=0)
    huge = "go " * 350_000  # ~1 MB
    obs, _, _, _, info = env.step(huge)
    assert info["valid_action"] is False
    first = obs.splitlines()[0]
    assert first.startswith(invalid_action_note(huge)) and "(1,050,000 characters)" in first
    assert len(first) < 4 * PREVIEW_CHARS and "go " * 40 not in obs
    obs, *_ = env.step(["x" * 10_000])
    assert len(obs.splitlines()[0]) < 4 * PREVIEW_CHARS


def test_rule_and_preview_helpers():
    assert action_key("  Far East\t") == "far east" and action_key(NotText(["far east"])) is None
    assert preview("abc") == "'abc'" and preview("x" * 100, limit=5) == "'xxxxx'... (100 characters)"
    assert str(NotText(list(range(1000)))).endswith("...") and NotText(list(range(1000))).kind == "list"
