"""TextWorld envs: real games generated once per session into a temporary cache, played through the contract."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path
from types import SimpleNamespace

import pytest

import envs
from envs.check import check_env_id
from envs.textworld import ensure_game, game_path
from envs.textworld.env import compact, parse_inventory, room_view

ENV_ID = "credo/TextWorld-TreasureHunter-L1-v0"
CHALLENGE, SETTINGS = "tw-treasure_hunter", {"level": 1}


def _make(**kwargs):
    return envs.make(ENV_ID, **kwargs)


def test_registered_ids_cover_every_challenge():
    ids = [c.id for c in envs.cards().values() if c.family == "textworld"]
    for stem in ("Simple-Dense-Detailed", "CoinCollector-L1", "TreasureHunter-L23", "Cooking-L5"):
        assert f"credo/TextWorld-{stem}-v0" in ids
    assert sum("TextWorld-Simple-" in i for i in ids) == 9


def test_simple_levels_match_the_challenges_own_choices():
    import argparse

    import textworld.challenges

    from envs.textworld.games import SIMPLE_GOALS, SIMPLE_REWARDS

    parser = textworld.challenges.CHALLENGES["tw-simple"][2](argparse.ArgumentParser())
    choices = {a.dest: tuple(a.choices) for a in parser._actions if a.choices}
    assert choices["rewards"] == SIMPLE_REWARDS and choices["goal"] == SIMPLE_GOALS


def test_walkthrough_wins_with_full_score(tw_cache):
    env = _make()
    obs, info = env.reset(seed=0)
    assert "$$" not in obs and not obs.startswith(">"), "the banner and prompt line are stripped"
    assert info["instruction"] and info["instruction"] not in obs
    assert info["walkthrough"] and info["state"]["room"] and info["state"]["game"] == 0
    total = 0.0
    for command in info["walkthrough"]:
        assert command in info["admissible_actions"]
        obs, reward, terminated, truncated, info = env.step(command)
        assert info["valid_action"]
        total += reward
    assert terminated and not truncated
    assert info["success"] and info["score"] == 1.0 and info["state"]["won"]
    assert total == info["state"]["max_points"] == info["state"]["points"]
    assert "Would you like to RESTART" not in obs


def test_invalid_actions_do_nothing_are_flagged_and_counted(tw_cache):
    env = _make(max_steps=3)
    obs0, info0 = env.reset(seed=0)
    for k, action in enumerate(["@@not an action@@", "", "fly to the moon"]):
        obs, reward, terminated, truncated, info = env.step(action)
        assert not info["valid_action"] and "not understood" in obs and reward == 0
        assert info["state"]["moves"] == 0 and info["state"]["room"] == info0["state"]["room"]
        assert truncated == (k == 2) and not terminated
    # credo's one rule: case and surrounding whitespace aside, nothing else (a full stop or brackets are invalid)
    env.reset(seed=0)
    first = info0["admissible_actions"][0]
    for bad in (first + ".", f"[{first}]", f"'{first}'", [first]):
        assert not env.step(bad)[4]["valid_action"], bad
    assert env.step("  " + first.upper() + " ")[4]["valid_action"]


def test_forward_invalid_shows_the_games_own_reply(tw_cache):
    env = _make(forward_invalid=True)
    env.reset(seed=0)
    obs, _, _, _, info = env.step("xyzzy")
    assert not info["valid_action"] and "not understood" in obs and "verb" in obs


def test_same_seed_same_episode_other_seed_other_game(tw_cache):
    def episode(seed):
        env = _make()
        obs, info = env.reset(seed=seed)
        out = [obs]
        for k in range(4):
            obs, *_ = env.step(info["admissible_actions"][k % len(info["admissible_actions"])])
            out.append(obs)
        return out, info["walkthrough"]

    assert episode(0) == episode(0)
    assert episode(0)[0][0] != episode(1)[0][0]
    assert episode(101) == episode(1)  # game = seed mod num_games (100)
    env = _make(num_games=2)  # unseeded resets walk the games in order: 0, 1, then back to 0
    assert [env.reset()[1]["state"]["game"] for _ in range(3)] == [0, 1, 0]
    held_out = _make(num_games=2, first_game=1)  # evaluation games past the training ones
    assert [held_out.reset(seed=s)[1]["state"]["game"] for s in (0, 1, 2)] == [1, 2, 1]
    assert held_out.reset()[1]["state"]["game"] == 2


def test_games_are_reused_from_the_cache(tw_cache, monkeypatch):
    import envs.textworld.games as games

    path = game_path(CHALLENGE, SETTINGS, 0)
    assert path.exists() and path.with_suffix(".json").exists()
    monkeypatch.setattr(games, "_generate", lambda *a: pytest.fail("a cached game was generated again"))
    assert ensure_game(CHALLENGE, SETTINGS, 0) == path
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")], "no temporary folders left"


def _generate_in_child(root: str) -> str:
    return str(ensure_game(CHALLENGE, SETTINGS, 7, root))


@pytest.mark.slow  # two spawned processes each generate a game: ~10 s on an idle machine, much more on a busy one
def test_two_processes_generating_the_same_game_agree(tmp_path):
    with mp.get_context("spawn").Pool(2) as pool:
        paths = pool.map(_generate_in_child, [str(tmp_path)] * 2)
    assert paths[0] == paths[1] and Path(paths[0]).exists()
    files = sorted(p.name for p in Path(paths[0]).parent.iterdir())
    assert files == ["7.json", "7.lock", "7.z8"]
    env = _make(cache_dir=str(tmp_path))
    obs, info = env.reset(seed=7)
    assert info["walkthrough"] and info["state"]["game"] == 7


def test_helpers_compact_and_inventory():
    raw = "\n\n  ___  \n |  $$ \\ \n\nHello there.\n\n\n\n-= Kitchen =-\nA room.\n>   -= Kitchen =-0/1\n"
    assert compact(raw) == "Hello there.\n\n-= Kitchen =-\nA room."
    assert parse_inventory("You are carrying:\n  a key\n  an old coin\n") == ["key", "old coin"]
    assert parse_inventory("You are carrying nothing.") == []
    # TextWorld 1.7's games write the list on one line
    assert parse_inventory("You are carrying: an old key.") == ["old key"]
    assert parse_inventory("You are carrying: a knife, a fried orange bell pepper and a diced roasted carrot.") == [
        "knife", "fried orange bell pepper", "diced roasted carrot"]


def _fact(name: str, *args: tuple[str, str]) -> SimpleNamespace:
    return SimpleNamespace(name=name, arguments=[SimpleNamespace(name=n, type=t) for n, t in args])


def test_room_view_lists_what_the_player_can_see():
    kinds = {"chest": "container", "box": "container", "table": "supporter", "old key": "key", "apple": "food",
             "coin": "object", "wooden door": "door", "pan": "object"}
    facts = [
        _fact("at", ("P", "P"), ("kitchen", "r")), _fact("at", ("chest", "c"), ("kitchen", "r")),
        _fact("at", ("box", "c"), ("kitchen", "r")), _fact("at", ("table", "s"), ("kitchen", "r")),
        _fact("in", ("old key", "k"), ("chest", "c")), _fact("open", ("chest", "c")),
        _fact("in", ("coin", "o"), ("box", "c")), _fact("closed", ("box", "c")),
        _fact("on", ("apple", "f"), ("table", "s")), _fact("at", ("pan", "o"), ("hall", "r")),
        _fact("link", ("kitchen", "r"), ("wooden door", "d"), ("hall", "r")), _fact("locked", ("wooden door", "d")),
        _fact("east_of", ("hall", "r"), ("kitchen", "r")), _fact("west_of", ("kitchen", "r"), ("hall", "r")),
        _fact("north_of", ("garden", "r"), ("kitchen", "r")), _fact("in", ("pan", "o"), ("I", "I")),
    ]
    objects, exits = room_view(facts, kinds)
    assert exits == ["east", "north"]
    assert objects == [
        {"name": "wooden door", "kind": "door", "where": "east", "status": "locked"},
        {"name": "chest", "kind": "container", "where": "room", "status": "open"},
        {"name": "box", "kind": "container", "where": "room", "status": "closed"},
        {"name": "table", "kind": "supporter", "where": "room", "status": ""},
        {"name": "old key", "kind": "key", "where": "in chest", "status": ""},
        {"name": "apple", "kind": "food", "where": "on table", "status": ""},
    ]  # not the coin in the closed box, not the pan in the hall


def test_state_has_the_inventory_and_the_things_in_the_room(tw_cache):
    env = _make()
    for seed in (0, 1):
        _, info = env.reset(seed=seed)
        assert set(info["state"]) == set(env.unwrapped.state_schema)
        assert env.unwrapped.outcome_keys < set(info["state"]) and info["state"]["exits"]
        taken = 0
        for command in info["walkthrough"]:
            visible = {o["name"] for o in info["state"]["objects"]}
            _, _, _, _, info = env.step(command)
            if command.startswith("take "):
                item = command.removeprefix("take ").split(" from ")[0]
                assert item in visible and item in info["state"]["inventory"]
                assert item not in {o["name"] for o in info["state"]["objects"]}
                taken += 1
        assert taken
    env.close()


@pytest.mark.slow
def test_textworld_id_passes_the_contract_check(tw_cache):
    assert check_env_id(ENV_ID) == []


def test_pregenerate_command_reports_ready_games(tw_cache):
    from typer.testing import CliRunner

    from credo.cli import cli

    out = CliRunner().invoke(cli, ["envs", "pregenerate", ENV_ID, "--seeds", "0-1", "--workers", "1"],
                             terminal_width=200)
    assert out.exit_code == 0, out.output
    assert "2 games" in out.output and str(tw_cache) in out.output.replace("\n", "")


def test_regenerating_a_game_gives_the_same_files(tw_cache, tmp_path):
    """Game 0 of the fixture was made with a freshly parsed knowledge base, this one with the reused parse."""
    again = ensure_game(CHALLENGE, SETTINGS, 0, tmp_path)
    first = game_path(CHALLENGE, SETTINGS, 0)
    assert again != first
    assert again.read_bytes() == first.read_bytes()
    assert again.with_suffix(".json").read_bytes() == first.with_suffix(".json").read_bytes()


def test_a_seed_that_cannot_make_a_game_falls_back_to_the_next_generator_seed(tmp_path, monkeypatch):
    import textworld
    import textworld.challenges
    from textworld.generator import QuestGenerationError

    from envs.textworld.games import RETRY_STRIDE

    desc, make, parser = textworld.challenges.CHALLENGES[CHALLENGE]
    tried = []

    def flaky_make(settings, options):
        tried.append(options.seeds)
        if len(tried) == 1:
            raise QuestGenerationError("no quest of that length fits this map")
        return make(settings, options)

    monkeypatch.setitem(textworld.challenges.CHALLENGES, CHALLENGE, (desc, flaky_make, parser))
    path = ensure_game(CHALLENGE, SETTINGS, 3, tmp_path)

    def seeds(seed: int) -> dict:
        options = textworld.GameOptions()
        options.seeds = seed
        return options.seeds

    assert tried == [seeds(3), seeds(3 + RETRY_STRIDE)] and path.exists() and path.name == "3.z8"
