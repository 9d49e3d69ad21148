"""Generated Boxoban levels: Boxoban's file format, solvable, deterministic, cached once; the ids run offline."""

from __future__ import annotations

import os
import random
import warnings
from collections import deque
from concurrent.futures import ThreadPoolExecutor

import pytest
from gymnasium.utils.env_checker import check_env

import envs
from credo.config import ConfigError
from envs.check import check_env_id
from envs.minihack.boxoban_levels import (
    MOVES,
    SPLITS,
    Difficulty,
    Level,
    ensure_split,
    format_levels,
    generate_level,
    generate_levels,
    split_folder,
    use_levels,
)

UNFILTERED = "credo/MiniHack-Boxoban-Unfiltered-v0"
ACTION = {"u": "north", "d": "south", "l": "west", "r": "east"}


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """A fresh credo cache for the module (generated levels land in it, never in ~/.cache)."""
    return tmp_path_factory.mktemp("credo-cache")


@pytest.fixture(autouse=True)
def offline(monkeypatch, cache):
    monkeypatch.setenv("CREDO_CACHE", str(cache))
    monkeypatch.delenv("CREDO_BOXOBAN_DIR", raising=False)


def parse(level: str) -> tuple[set, set, set, tuple[int, int]]:
    """(floor, boxes, targets, player) of a level's text."""
    floor, boxes, targets, player = set(), set(), set(), None
    for r, row in enumerate(level.splitlines()):
        for c, ch in enumerate(row):
            if ch != "#":
                floor.add((r, c))
            if ch == "$":
                boxes.add((r, c))
            elif ch == ".":
                targets.add((r, c))
            elif ch == "@":
                player = (r, c)
    return floor, boxes, targets, player


def replay(level: str, moves: str) -> bool:
    """Play LURD `moves` by Sokoban's rules; False on an illegal move, else whether every box is on a target."""
    floor, boxes, targets, player = parse(level)
    for move in moves:
        dr, dc = MOVES[move.lower()]
        nxt = (player[0] + dr, player[1] + dc)
        if nxt not in floor:
            return False
        if nxt in boxes:
            beyond = (nxt[0] + dr, nxt[1] + dc)
            if not move.isupper() or beyond not in floor or beyond in boxes:
                return False
            boxes = (boxes - {nxt}) | {beyond}
        elif move.isupper():
            return False  # a push letter that pushes nothing
        player = nxt
    return boxes == targets


def fewest_pushes(level: str, limit: int = 200_000) -> int | None:
    """Breadth-first search over (boxes, player's region) states: the fewest pushes that solve `level`."""
    floor, boxes, targets, player = parse(level)

    def region(boxes: frozenset, start: tuple[int, int]) -> set:
        seen, queue = {start}, deque([start])
        while queue:
            cell = queue.popleft()
            for dr, dc in MOVES.values():
                nxt = (cell[0] + dr, cell[1] + dc)
                if nxt in floor and nxt not in boxes and nxt not in seen:
                    seen.add(nxt)
                    queue.append(nxt)
        return seen

    start = frozenset(boxes)
    reach = region(start, player)
    seen = {(start, min(reach))}
    queue = deque([(start, reach, 0)])
    while queue and len(seen) < limit:
        boxes, reach, pushes = queue.popleft()
        if boxes == targets:
            return pushes
        for box in boxes:
            for dr, dc in MOVES.values():
                stand, beyond = (box[0] - dr, box[1] - dc), (box[0] + dr, box[1] + dc)
                if stand in reach and beyond in floor and beyond not in boxes:
                    after = (boxes - {box}) | {beyond}
                    after_reach = region(after, box)
                    key = (after, min(after_reach))
                    if key not in seen:
                        seen.add(key)
                        queue.append((after, after_reach, pushes + 1))
    return None


def test_levels_are_in_boxoban_format_and_minihack_reads_them(tmp_path):
    from minihack.envs.boxohack import load_boxoban_levels

    levels = generate_levels("unfiltered", "train", 20)
    text = format_levels(levels)
    assert text.startswith("; 0\n") and "\n\n; 1\n" in text and text.endswith("\n\n")
    (tmp_path / "000.txt").write_text(text)
    assert load_boxoban_levels(str(tmp_path)) == [level.text for level in levels]
    assert len({level.text for level in levels}) == 20
    for level in levels:
        rows = level.text.splitlines()
        assert len(rows) == 10 and all(len(row) == 10 and set(row) <= set("# $.@") for row in rows)
        assert rows[0] == rows[-1] == "#" * 10 and all(row[0] == row[-1] == "#" for row in rows)
        assert [level.text.count(ch) for ch in "$.@"] == [4, 4, 1]  # no box or player starts on a target


@pytest.mark.parametrize("level_set", list(SPLITS))
def test_recorded_solutions_solve_every_set_and_harder_sets_need_more_pushes(level_set):
    levels = generate_levels(level_set, SPLITS[level_set][0], 15)
    assert all(replay(level.text, level.solution) for level in levels)
    assert not any(replay(level.text, level.solution[:-1]) for level in levels)  # the last push is needed
    pushes = sorted(sum(ch.isupper() for ch in level.solution) for level in levels)
    assert pushes[0] >= {"unfiltered": 3, "medium": 5, "hard": 8}[level_set]


def test_an_independent_solver_solves_easy_levels():
    """Reverse play guarantees solvability: a BFS that never sees the recorded solution agrees."""
    for seed in range(3):
        level = generate_level(random.Random(seed), Difficulty(rounds=4, min_displacement=4, max_pull=1))
        best = fewest_pushes(level.text)
        assert best is not None and 1 <= best <= sum(ch.isupper() for ch in level.solution)


def test_generation_is_deterministic_and_splits_differ():
    assert generate_levels("medium", "train", 5) == generate_levels("medium", "train", 5)
    assert generate_levels("medium", "valid", 5) != generate_levels("medium", "train", 5)
    with pytest.raises(ConfigError, match="unknown Boxoban split medium/test"):
        generate_levels("medium", "test", 1)
    with pytest.raises(ConfigError, match="rounds >= 4"):
        Difficulty(rounds=3, min_displacement=1)


def test_cache_is_written_once_and_safely_by_concurrent_writers(tmp_path):
    with ThreadPoolExecutor(4) as pool:
        folders = list(pool.map(lambda _: ensure_split(tmp_path, "unfiltered", "valid", count=30), range(4)))
    folder = split_folder(tmp_path, "unfiltered", "valid")
    assert folders == [folder] * 4 and os.listdir(folder) == ["000.txt"]
    assert os.listdir(tmp_path / "unfiltered") == ["valid"]  # no temporary folder left behind
    assert (folder / "000.txt").read_text() == format_levels(generate_levels("unfiltered", "valid", 30))
    stamp = (folder / "000.txt").stat().st_mtime_ns
    ensure_split(tmp_path, "unfiltered", "valid", count=30)
    assert (folder / "000.txt").stat().st_mtime_ns == stamp
    assert split_folder(tmp_path, "hard", "") == tmp_path / "hard"


def test_unfiltered_id_runs_offline_on_the_generated_cache(cache):
    assert "needs-data" not in envs.card(UNFILTERED).tags
    env = envs.make(UNFILTERED)
    assert (cache / "boxoban" / "unfiltered" / "train" / "000.txt").is_file()
    obs, info = env.reset(seed=3)
    assert info["admissible_actions"] == ["north", "east", "south", "west"]
    assert "boulder" in obs and "fountain" in obs and info["end_status"] == 0
    assert env.reset(seed=3)[0] == obs  # the level is drawn from the env's seed
    assert len({env.reset(seed=s)[0] for s in range(4)}) > 1
    obs, reward, terminated, truncated, info = env.step("east")
    assert isinstance(obs, str) and info["valid_action"] and not terminated
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_env(env.unwrapped, skip_render_check=True)
    assert check_env_id(UNFILTERED) == []
    env.close()


@pytest.fixture()
def one_level_dataset(tmp_path, monkeypatch):
    """A boxoban-levels-master-like folder with one generated level per split, used via CREDO_BOXOBAN_DIR."""
    level = generate_level(random.Random(7), Difficulty(rounds=4, min_displacement=3))
    for level_set, modes in SPLITS.items():
        for mode in modes:
            folder = split_folder(tmp_path, level_set, mode)
            folder.mkdir(parents=True)
            (folder / "000.txt").write_text(format_levels([level]))
    monkeypatch.setenv("CREDO_BOXOBAN_DIR", str(tmp_path))
    return level


def test_playing_the_recorded_solution_in_minihack_succeeds(one_level_dataset):
    level: Level = one_level_dataset
    env = envs.make(UNFILTERED)
    obs, info = env.reset(seed=0)
    for move in level.solution:
        obs, reward, terminated, truncated, info = env.step(ACTION[move.lower()])
        if terminated:
            break
    assert terminated and info["success"] and info["score"] == 1.0 and reward == 1.0
    env.close()


@pytest.mark.parametrize("env_id", ["credo/MiniHack-Boxoban-Medium-v0", "credo/MiniHack-Boxoban-Hard-v0"])
def test_medium_and_hard_ids_read_the_dataset_folder(one_level_dataset, env_id):
    env = envs.make(env_id)
    obs, info = env.reset(seed=0)
    assert "boulder" in obs and info["admissible_actions"] == ["north", "east", "south", "west"]
    env.close()


def test_a_wrong_dataset_folder_is_a_one_line_error(monkeypatch, tmp_path):
    monkeypatch.setenv("CREDO_BOXOBAN_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(ConfigError, match="CREDO_BOXOBAN_DIR=.*nowhere is not a boxoban-levels-master folder"):
        use_levels("MiniHack-Boxoban-Unfiltered-v0")
