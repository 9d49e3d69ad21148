"""NetHack text envs: NLE tasks and the ONI variants (Staircase level k, ExtendedActions macros), --More--
handling, determinism, invalid actions and BALROG progression."""

from __future__ import annotations

import warnings

import pytest
from gymnasium.utils.env_checker import check_env
from nle import nethack

import envs
from envs.nethack import TASKS
from envs.nethack.actions import ActionSet
from envs.nethack.env import make_task
from envs.nethack.progression import DUNGEON_LEVEL_PROGRESSION, EXPERIENCE_LEVEL_PROGRESSION, progression
from envs.nethack.tasks import EXTENDED_ACTIONS, SUCCESS_REWARD

SCORE = "credo/NetHackScore-v0"


def test_all_tasks_registered():
    cards = envs.cards()
    for name in TASKS:
        assert cards[f"credo/{name}"].family == "nethack"
    for name in ("Score", "Staircase", "StaircasePet", "Oracle", "Gold", "Eat", "Scout", "Challenge",
                 "StaircaseLvl3", "StaircaseLvl4", "ScoreExtendedActions", "StaircaseLvl3ExtendedActions",
                 "StaircaseLvl4ExtendedActions", "OracleExtendedActions"):
        assert f"credo/NetHack{name}-v0" in cards


@pytest.mark.parametrize("env_id", [SCORE, "credo/NetHackStaircaseLvl3ExtendedActions-v0"])
def test_check_env(env_id):
    env = envs.make(env_id)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_env(env.unwrapped, skip_render_check=True)
    _, info = env.reset(seed=0)
    assert set(info["state"]) == set(env.unwrapped.state_schema)
    assert info["instruction"] and "Inventory:" in env.render()
    env.close()


def play(env, seed: int, steps: int) -> list[tuple[str, float]]:
    obs, info = env.reset(seed=seed)
    out = [(obs, 0.0)]
    for i in range(steps):
        names = info["admissible_actions"]
        obs, reward, terminated, truncated, info = env.step(names[(i * 5 + 1) % len(names)])
        out.append((obs, reward))
        if terminated or truncated:
            break
    return out


@pytest.mark.parametrize("env_id", [SCORE, "credo/NetHackChallenge-v0"])  # Challenge refuses seeds in NLE
def test_same_seed_same_episode(env_id):
    env = envs.make(env_id)
    assert play(env, 11, 40) == play(env, 11, 40)
    assert play(env, 11, 0) != play(env, 12, 0)
    env.close()


def test_more_prompts_are_skipped_and_their_messages_kept():
    env = envs.make(SCORE)
    env.reset(seed=0)
    obs, *_ = env.step("eat")
    assert "What do you want to eat?" in obs and "\nKeys: h = west, j = south\n" in obs
    obs, _, _, _, info = env.step("north")  # 'k' is not an inventory letter: a message behind --More--
    assert "You don't have that object." in obs
    assert "You don't have that object." in info["state"]["message"]
    raw = env.unwrapped.raw
    assert raw.last_observation[raw._internal_index][3] == 0, "NetHack must not be left waiting at --More--"
    env.close()


def test_invalid_action_does_not_step_nethack():
    env = envs.make(SCORE)
    _, info = env.reset(seed=0)
    time_before = info["state"]["time"]
    obs, reward, terminated, truncated, info = env.step("dance a jig")
    assert obs.startswith("Your action 'dance a jig' was not understood")
    assert info["valid_action"] is False and reward == 0.0 and not (terminated or truncated)
    assert info["state"]["time"] == time_before and env.unwrapped._steps == 1
    env.close()


def test_action_names():
    score = ActionSet(make_task("NetHackScore-v0").actions)
    assert score.names[:3] == ["more", "north", "east"] and "far southwest" in score.names
    assert {"up", "down", "wait", "kick", "eat", "search"} <= set(score.names)
    extended = ActionSet(EXTENDED_ACTIONS)
    assert len(extended) == 28 and extended.names[-5:] == ["cast", "quaff", "pray", "pickup", "pay"]
    challenge = ActionSet(make_task("NetHackChallenge-v0").actions)
    assert len(set(challenge.names)) == len(challenge)
    for i, name in enumerate(challenge.names):
        assert challenge.parse(name) == i
    assert {"apply", "open", "esc", "pickup", "more", "far east"} <= set(challenge.names)
    assert score.key_hint("What do you want to eat? [ghij or ?*]") == "Keys: h = west, j = south"
    assert score.key_hint("Really attack? [yn] (n)") == "Keys: y = northwest, n = southeast"
    assert challenge.key_hint("What do you want to wield? [- a-c or ?*]").startswith("Keys: - = minus, a = apply, b =")
    assert score.key_hint("You see no objects here.") == ""


def test_progression_table_and_running_max():
    assert progression(1, 1) == 0.0 and progression(1, 1, ascended=True) == 100.0
    assert progression(2, 1) == pytest.approx(100 * DUNGEON_LEVEL_PROGRESSION[1])
    assert progression(1, 10) == pytest.approx(100 * EXPERIENCE_LEVEL_PROGRESSION[9])
    assert progression(60, 40) == pytest.approx(100 * max(DUNGEON_LEVEL_PROGRESSION[-1], EXPERIENCE_LEVEL_PROGRESSION[-1]))
    for table in (DUNGEON_LEVEL_PROGRESSION, EXPERIENCE_LEVEL_PROGRESSION):
        assert list(table) == sorted(table)
    env = envs.make(SCORE)
    _, info = env.reset(seed=3)
    values = [info["progression"]]
    for i in range(300):
        names = info["admissible_actions"]
        _, _, terminated, truncated, info = env.step(names[(i * 3) % len(names)])
        values.append(info["progression"])
        assert info["state"]["progression"] == info["progression"]
        assert info["progression"] >= progression(info["state"]["depth"], info["state"]["xp_level"]) - 1e-9
        if terminated or truncated:
            break
    assert values == sorted(values)
    env.close()


def fake_observation(raw, message: bytes, dungeon_level: int) -> tuple:
    observation = [a.copy() for a in raw.last_observation]
    observation[raw._message_index][:] = 0
    observation[raw._message_index][: len(message)] = list(message)
    observation[raw._blstats_index][nethack.NLE_BL_DLEVEL] = dungeon_level
    return tuple(observation)


def test_staircase_level_logic_on_faked_observations():
    raw = make_task("envs.nethack.tasks:StaircaseLvl3")
    raw.reset()
    success = raw.StepStatus.TASK_SUCCESSFUL
    assert raw._is_episode_end(fake_observation(raw, b"You descend the stairs.", 3)) == success
    assert raw._is_episode_end(fake_observation(raw, b"You descend the stairs.", 2)) != success
    assert raw._is_episode_end(fake_observation(raw, b"You climb up the stairs.", 3)) != success
    last = raw.last_observation
    assert raw._reward_fn(last, 0, last, success) == SUCCESS_REWARD
    assert raw._reward_fn(last, 0, last, raw.StepStatus.RUNNING) == 0.0
    raw.close()


def teleport_to_stairs(raw) -> bool:
    """Wizard mode: map the level and teleport onto the staircase down (test set-up, not agent actions)."""
    observation = None
    for key in (nethack.C("f"), nethack.C("t"), ord(">"), ord(".")):
        observation, _ = raw.nethack.step(key)
        while observation[raw._internal_index][3] or observation[raw._internal_index][1]:
            observation, _ = raw.nethack.step(ord(" ") if observation[raw._internal_index][3] else 27)
    raw.last_observation = observation
    return bool(observation[raw._internal_index][4])


def test_staircase_lvl3_real_descent():
    env = envs.make("credo/NetHackStaircaseLvl3ExtendedActions-v0", wizard=True)
    env.reset(seed=0)
    raw = env.unwrapped.raw
    assert teleport_to_stairs(raw)
    _, reward, terminated, _, info = env.step("down")
    assert info["state"]["dungeon_level"] == 2 and reward == 0.0 and not terminated
    assert "You descend the stairs." in info["state"]["message"]
    assert teleport_to_stairs(raw)
    _, reward, terminated, truncated, info = env.step("down")
    assert reward == SUCCESS_REWARD and terminated and not truncated and info["success"]
    assert info["state"]["dungeon_level"] == 3
    env.close()


def test_extended_actions_macros():
    env = envs.make("credo/NetHackScoreExtendedActions-v0")
    obs, info = env.reset(seed=0)
    assert len(info["admissible_actions"]) == 28
    inventory = obs.split("Inventory:")[1]
    obs, *_ = env.step("eat")  # answered with the first listed food letter, no prompt left for the agent
    raw = env.unwrapped.raw
    assert "What do you want to eat? [" in obs, "the prompt's message is kept"
    assert not raw.last_observation[raw._internal_index][1], "and the prompt was answered"
    assert obs.split("Inventory:")[1] != inventory, "eating changed the inventory"
    obs, *_ = env.step("cast")  # spell a (the Monk's sleep) is picked, no spell menu is left open
    assert "In what direction?" in obs or "enough energy to cast" in obs
    env.close()


def test_text_layer_on_a_synthetic_map():
    """A walled room with one doorway, drawn with real glyph ids: surroundings, blocked cells, frontier, path."""
    import numpy as np

    from envs.nethack.text import blocked_directions, nearest_frontier, shortest_path_length, surroundings

    cmap = nethack.GLYPH_CMAP_OFF
    glyphs = np.full((21, 79), cmap, np.int16)  # S_stone: unexplored
    glyphs[4:9, 9:16] = cmap + 1  # walls
    glyphs[5:8, 10:15] = cmap + 19  # floor
    glyphs[6, 15] = cmap + 12  # doorway in the east wall
    glyphs[5, 14] = cmap + 24  # staircase down
    glyphs[6, 12] = nethack.GLYPH_MON_OFF  # the hero (a monster glyph)
    assert surroundings(glyphs, 12, 6, 12, 3) == [("staircase down", 2, -1), ("doorway", 3, 0)]
    assert blocked_directions(glyphs, 12, 6) == []
    assert blocked_directions(glyphs, 10, 5) == ["north", "west", "northeast", "southwest", "northwest"]
    assert nearest_frontier(glyphs, 12, 6) == (3, 0), "the doorway is the only known cell next to unexplored space"
    assert shortest_path_length(glyphs, 12, 6) == 2
    glyphs[5, 14] = cmap + 19
    assert shortest_path_length(glyphs, 12, 6) is None


def test_state_features_on_a_synthetic_map():
    """`info["state"]` objects from real glyph ids: names, kinds, offsets, distance, and a door the game said is
    locked, until it is drawn open; the inventory as {letter: item}."""
    import numpy as np

    from envs.nethack.text import StateFeatures, inventory_state

    def object_glyph(name: str) -> int:
        index = next(i for i in range(nethack.NUM_OBJECTS) if nethack.OBJ_NAME(nethack.objclass(i)) == name)
        return nethack.GLYPH_OBJ_OFF + index

    jackal = next(i for i in range(nethack.NUMMONS) if nethack.permonst(i).mname == "jackal")
    cmap = nethack.GLYPH_CMAP_OFF
    glyphs = np.full((21, 79), cmap + 19, np.int16)  # floor everywhere
    glyphs[6, 12] = nethack.GLYPH_MON_OFF  # the hero
    glyphs[6, 13] = cmap + 15  # closed door, east
    glyphs[4, 9] = object_glyph("skeleton key")
    glyphs[9, 12] = object_glyph("gold piece")
    glyphs[6, 7] = nethack.GLYPH_PET_OFF + jackal
    features = StateFeatures()
    expected = [{"name": "closed door", "kind": "feature", "dx": 1, "dy": 0, "dist": 1},
                {"name": "key", "kind": "object", "dx": -3, "dy": -2, "dist": 3},
                {"name": "gold piece", "kind": "object", "dx": 0, "dy": 3, "dist": 3},
                {"name": "tame jackal", "kind": "monster", "dx": -5, "dy": 0, "dist": 5}]
    assert features.objects(glyphs, 12, 6, "") == expected
    locked = features.objects(glyphs, 12, 6, "This door is locked.")
    assert locked[0]["name"] == "locked door" and locked[1:] == expected[1:]
    assert features.objects(glyphs, 12, 6, "")[0]["name"] == "locked door"  # remembered
    glyphs[6, 13] = cmap + 13  # drawn open: no longer locked
    assert features.objects(glyphs, 12, 6, "")[0]["name"] == "open door"
    glyphs[6, 13] = cmap + 15
    assert features.objects(glyphs, 12, 6, "")[0]["name"] == "closed door"
    features.objects(glyphs, 12, 6, "This door is locked.")
    features.reset()  # a new episode forgets
    assert features.objects(glyphs, 12, 6, "")[0]["name"] == "closed door"

    letters = np.zeros(55, np.uint8)
    strs = np.zeros((55, 80), np.uint8)
    for i, (letter, item) in enumerate((("a", "a +1 long sword (weapon in hand)"), ("g", "a key"))):
        letters[i] = ord(letter)
        strs[i, :len(item)] = np.frombuffer(item.encode(), np.uint8)
    assert inventory_state(letters, strs) == {"a": "a +1 long sword (weapon in hand)", "g": "a key"}


def test_score_state_has_the_inventory_and_the_pet():
    env = envs.make(SCORE)
    _, info = env.reset(seed=0)
    state = info["state"]
    assert env.unwrapped.outcome_keys == {"score", "progression"} and len(state["inventory"]) >= 5
    assert all(f"  {letter}: {item}" in env.render() for letter, item in state["inventory"].items())
    pets = [o for o in state["objects"] if o["name"].startswith("tame ")]
    assert pets and pets[0]["kind"] == "monster" and pets[0]["dist"] == max(abs(pets[0]["dx"]), abs(pets[0]["dy"]))
    env.close()
