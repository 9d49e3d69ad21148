"""MiniHack text envs: registration, gymnasium's checker, determinism, invalid actions, action names, and a
scripted agent that wins Room-5x5 by reading only the text."""

from __future__ import annotations

import re
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import envs
from credo.config import ConfigError
from envs.core import invalid_action_note
from envs.minihack import minihack_ids
from envs.nethack.actions import ActionSet

ROOM = "credo/MiniHack-Room-5x5-v0"


def make(env_id: str, **kwargs):
    return envs.make(env_id, **kwargs)


def test_every_minihack_id_is_registered():
    ids = minihack_ids()
    assert len(ids) == 161
    cards = envs.cards()
    for env_id in ids:
        card = cards[f"credo/{env_id}"]
        assert card.family == "minihack" and card.action_mode == "admissible" and card.instruction_example
    assert {c for c in cards if cards[c].family == "minihack"} == {f"credo/{i}" for i in ids}


@pytest.mark.parametrize("env_id", [
    ROOM, "credo/MiniHack-Navigation-Custom-v0", "credo/MiniHack-Skill-Custom-v0", "credo/MiniHack-Corridor-R2-v0",
    "credo/MiniHack-KeyRoom-S5-v0", "credo/MiniHack-Eat-v0", "credo/MiniHack-MultiRoom-N2-v0",
    "credo/MiniHack-LavaCrossingS9N1-v0",
])
def test_check_env(env_id):
    env = make(env_id)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_env(env.unwrapped, skip_render_check=True)
    _, info = env.reset(seed=0)
    assert info["instruction"] and info["admissible_actions"]
    assert set(info["state"]) <= set(env.unwrapped.state_schema)
    env.close()


def rollout(env, seed: int, steps: int) -> list[str]:
    obs, info = env.reset(seed=seed)
    seen = [obs]
    for i in range(steps):
        names = info["admissible_actions"]
        obs, _, terminated, truncated, info = env.step(names[(i * 7 + 3) % len(names)])
        seen.append(obs)
        if terminated or truncated:
            break
    return seen


@pytest.mark.parametrize("env_id", ["credo/MiniHack-Room-Random-5x5-v0", "credo/MiniHack-MultiRoom-N2-v0"])
def test_same_seed_same_episode(env_id):
    env = make(env_id)
    first, again = rollout(env, 7, 30), rollout(env, 7, 30)
    assert first == again
    starts = {rollout(env, seed, 0)[0] for seed in range(6)}
    assert len(starts) > 1, "different seeds should give different levels"
    env.close()


def test_invalid_action_is_counted_and_noted():
    env = make(ROOM, max_episode_steps=3)
    obs, _ = env.reset(seed=0)
    x0 = env.unwrapped._state["x"]
    obs, reward, terminated, truncated, info = env.step("fly to the moon")
    assert obs.startswith(invalid_action_note("fly to the moon"))
    assert info["valid_action"] is False and reward == 0.0 and not terminated and not truncated
    assert env.unwrapped._state["x"] == x0 and info["state"]["time"] == 1  # NetHack was not stepped
    obs, *_ = env.step(12345)  # not even a string
    assert obs.startswith("Your action")
    _, _, terminated, truncated, info = env.step("???")
    assert truncated and not terminated, "three invalid actions reach the 3-step cap"
    env.close()


def test_action_names_cover_every_action():
    for env_id in [ROOM, "credo/MiniHack-Corridor-R2-v0", "credo/MiniHack-Eat-v0", "credo/MiniHack-KeyRoom-S5-v0"]:
        env = make(env_id)
        actions = env.unwrapped.raw.actions
        action_set = ActionSet(actions)
        assert len(set(action_set.names)) == len(actions), env_id
        for i, name in enumerate(action_set.names):
            assert action_set.parse(name) == i
            assert action_set.parse(f"  {name.upper()}\t") == i  # case and surrounding whitespace aside
            assert action_set.parse(f"{name}!") is None and action_set.parse(f"[{name}]") is None  # nothing else
        env.close()
    room = ActionSet(make(ROOM).unwrapped.raw.actions)
    assert room.names == ["north", "east", "south", "west", "northeast", "southeast", "southwest", "northwest"]
    assert room.parse("far_north") is None and room.parse("fly") is None
    assert room.parse("k") is None  # a key is not a name: questions are answered by the names the "Keys:" line gives
    skill = ActionSet(make("credo/MiniHack-Eat-v0").unwrapped.raw.actions)
    assert skill.parse("K") is None and skill.parse(",") is None and skill.parse("Far North") == skill.names.index(
        "far north")
    assert {"eat", "apply", "open", "kick", "search", "esc", "pickup", "up" if "up" in skill.names else "down"} <= set(
        skill.names)


DIRECTION = {(0, -1): "north", (1, 0): "east", (0, 1): "south", (-1, 0): "west", (1, -1): "northeast",
             (1, 1): "southeast", (-1, 1): "southwest", (-1, -1): "northwest"}


def direction_to(thing: str, obs: str) -> str | None:
    """The one-step direction towards `thing`, read from the observation's "You see" text alone."""
    match = re.search(thing + r" ((?:adjacent \w+)|(?:\d+ \w+)(?: \d+ \w+)?)", obs)
    if not match:
        return None
    words = match.group(1).split()
    if words[0] == "adjacent":
        return words[1]
    dx = dy = 0
    for count, word in zip(words[::2], words[1::2], strict=True):
        if word in ("east", "west"):
            dx = int(count) * (1 if word == "east" else -1)
        else:
            dy = int(count) * (1 if word == "south" else -1)
    return DIRECTION[((dx > 0) - (dx < 0), (dy > 0) - (dy < 0))]


@pytest.mark.parametrize("env_id", [ROOM, "credo/MiniHack-Room-Random-5x5-v0"])
def test_scripted_agent_wins_by_reading_the_text(env_id):
    env = make(env_id)
    for seed in range(4):
        obs, info = env.reset(seed=seed)
        optimal = info.get("optimal_steps")
        for _ in range(30):
            action = direction_to("staircase down", obs)
            assert action is not None, obs
            obs, reward, terminated, truncated, info = env.step(action)
            if terminated:
                break
        assert info["success"] and info["score"] == 1.0 and reward > 0 and info["progression"] == 100.0
        assert info["state"]["depth"] == 1 and info["state"]["hp"] > 0, "the last live state, not NLE's blank one"
        assert "staircase down" in obs
        assert optimal == env.unwrapped._steps, "a greedy walk in an open room is a shortest path"
    env.close()


def test_room_text_and_compact_text():
    env = make(ROOM)
    obs, info = env.reset(seed=0)
    assert "You see: staircase down 4 east 4 south" in obs
    assert "Blocked: north, west, northeast, southwest, northwest" in obs  # blank room edge counts as blocked
    assert "Status: hp" in obs and "Inventory" not in obs  # a move-only task shows no inventory
    assert info["state"]["x"] >= 0 and info["state"]["message"] and obs.startswith("Message: ")
    compact = make(ROOM, compact=True)
    text, _ = compact.reset(seed=0)
    assert text == "stairs 4 east 4 south . blocked north west northeast southwest northwest ."
    assert len(text.split()) <= 20
    cropped, _ = make(ROOM, crop=2).reset(seed=0)
    assert "Map (you are @):" in cropped and "@" in cropped.split("Map (you are @):")[1]
    assert "Inventory:" in make("credo/MiniHack-Eat-v0").reset(seed=0)[0]


def test_bad_options_are_one_line_errors():
    with pytest.raises(ConfigError, match="crop"):
        make(ROOM, crop=-1)
    with pytest.raises(ConfigError, match="no_such_option"):
        make(ROOM, no_such_option=1)


def test_gymnasium_make_and_close_twice():
    env = gym.make(ROOM)
    env.reset(seed=1)
    env.close()
    env.close()


@pytest.mark.slow
def test_every_minihack_id_makes_resets_and_steps():
    """All 161 ids (about 40 s, plus Boxoban's level generation on a fresh cache): each builds, resets and
    takes named actions."""
    for env_id in minihack_ids():
        credo_id = f"credo/{env_id}"
        env = make(credo_id)
        obs, info = env.reset(seed=1)
        assert obs and info["admissible_actions"], credo_id
        for i in range(5):
            names = info["admissible_actions"]
            obs, _, terminated, truncated, info = env.step(names[i % len(names)])
            assert info["valid_action"], credo_id
            if terminated or truncated:
                obs, info = env.reset()
        env.close()


def test_scripted_agent_eats_the_apple_by_reading_the_key_hint():
    """MiniHack-Eat in admissible mode: walk to the apple, eat, answer the [ynq] question via the "Keys:" line."""
    env = make("credo/MiniHack-Eat-Fixed-v0")
    obs, info = env.reset(seed=0)
    for _ in range(40):
        keys = re.search(r"^Keys: (.*)$", obs, re.M)
        if keys:
            answer = dict(pair.split(" = ") for pair in keys.group(1).split(", "))
            action = answer["y"]
        elif "You see: apple" not in obs:
            action = "eat"  # standing on it
        else:
            action = direction_to("apple", obs)
        obs, reward, terminated, truncated, info = env.step(action)
        assert info["valid_action"], action
        if terminated or truncated:
            break
    assert info["success"] and reward > 0, obs
    env.close()



def test_frontier_cue_when_the_stairs_are_out_of_view():
    env = make("credo/MiniHack-Corridor-R2-v0", compact=True, frontier=True)
    texts = [env.reset(seed=seed)[0] for seed in range(8)]
    unseen = [t for t in texts if t.startswith("stairs unseen")]
    assert unseen and all(t.split(" . ")[1].startswith("unexplored ") for t in unseen)
    assert all("unexplored" not in t for t in texts if not t.startswith("stairs unseen"))
    env.close()


def test_a_fortune_cookie_reads_a_rumor():
    """MiniHack's level archive drops NetHack's data files; credo puts them back, so a rumor is read (before the
    fix: "Can't open 'rumors' file. Program in disorder!")."""
    from minihack import LevelGenerator

    level = LevelGenerator(w=5, h=3)
    level.set_start_pos((0, 0))
    level.add_object("fortune cookie", "%", place=(0, 0))
    level.add_goal_pos((4, 2))
    env = make("credo/MiniHack-Skill-Custom-v0", des_file=level.get_des())
    env.reset(seed=0)
    obs, _, _, _, info = env.step("eat")
    assert "fortune cookie here; eat it?" in info["state"]["message"]
    yes = dict(pair.split(" = ") for pair in re.search(r"^Keys: (.*)$", obs, re.M).group(1).split(", "))["y"]
    _, _, _, _, info = env.step(yes)  # the action that presses y, as the "Keys:" line names it
    message = info["state"]["message"]
    assert "It reads:" in message and "Can't open" not in message and "renovation" not in message
    env.close()


def test_state_has_the_inventory_and_the_things_around_the_hero_along_a_keyroom_win():
    """KeyRoom-Fixed-S5 (seed 0): the key, the door (closed, then locked once the game says so, then open), the
    staircase down and the key in the inventory, as LaRe's code reads them."""
    env = make("credo/MiniHack-KeyRoom-Fixed-S5-v0")
    _, info = env.reset(seed=0)
    state = info["state"]
    assert set(state) == set(env.unwrapped.state_schema) and env.unwrapped.outcome_keys < set(state)
    assert state["objects"] == [{"name": "closed door", "kind": "feature", "dx": -2, "dy": 0, "dist": 2},
                                {"name": "key", "kind": "object", "dx": -1, "dy": 2, "dist": 2}]
    assert "key 1 west 2 south" in env.render()  # the text names the key too (it said "tool")
    assert state["inventory"]["a"] == "a +0 short sword (weapon in hand)"
    assert all(f"  {letter}: {item}" in env.render() for letter, item in state["inventory"].items())
    for action in ("west", "west"):  # into the door: "This door is locked."
        _, _, _, _, info = env.step(action)
    assert "This door is locked" in info["state"]["message"]
    assert {"name": "locked door", "kind": "feature", "dx": -1, "dy": 0, "dist": 1} in info["state"]["objects"]

    env.reset(seed=0)
    seen = []
    for action in ("south", "southwest", "pickup", "north", "apply", "north", "west", "west"):
        _, _, terminated, _, info = env.step(action)
        seen.append(info["state"])
    assert terminated and info["success"]
    keys = [[item for item in s["inventory"].values() if "key named" in item] for s in seen]
    assert [bool(k) for k in keys] == [False, False, True, True, True, True, True, True]
    names = [{o["name"]: (o["dx"], o["dy"]) for o in s["objects"]} for s in seen]
    assert names[3]["closed door"] == (-1, -1) and "staircase down" not in names[3]
    assert names[4]["open door"] == (-1, -1) and names[4]["staircase down"] == (-2, -1)
    assert names[6] == {"staircase down": (-1, 0), "staircase up": (2, 0)}  # on the door (the hero hides it)
    env.close()


def test_keyroom_reports_the_key_subgoal_once_it_is_carried():
    """info["subgoals"]["key"] turns 1 when the key enters the inventory and stays 1 (the bench's sub-goal)."""
    env = envs.make("credo/MiniHack-KeyRoom-Fixed-S5-v0", compact=True)
    try:
        _, info = env.reset(seed=0)
        assert info["subgoals"] == {"key": 0.0}
        on_key = False  # the key is not listed once the hero stands on it
        for _ in range(30):
            if info["subgoals"]["key"]:
                break
            key = next((o for o in info["state"]["objects"] if o["name"] == "key"), None)
            if key is None and on_key:
                action = "pickup"
            else:
                action = {(1, 0): "east", (-1, 0): "west", (0, 1): "south", (0, -1): "north", (1, 1): "southeast",
                          (1, -1): "northeast", (-1, 1): "southwest", (-1, -1): "northwest"}[
                    (int(np.sign(key["dx"])), int(np.sign(key["dy"])))]
                on_key = key["dist"] == 1
            info = env.step(action)[-1]
        assert info["subgoals"] == {"key": 1.0}
        info = env.step("west")[-1]
        assert info["subgoals"]["key"] == 1.0
    finally:
        env.close()
    room = envs.make("credo/MiniHack-Room-5x5-v0")
    try:
        assert "subgoals" not in room.reset(seed=0)[1]
    finally:
        room.close()
