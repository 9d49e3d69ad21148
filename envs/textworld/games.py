"""TextWorld games: which challenge settings each credo id stands for, and the on-disk game cache.

A credo TextWorld id is a *family* of games: one TextWorld challenge at one difficulty setting, indexed by
seed (game `k` is the challenge's game generated with seed `k`). Games are generated with TextWorld's own
challenge generators on first use and kept in a cache directory, so a run, a second run and twenty rollout
workers all reuse the same files. Generation is safe when several processes ask for the same game at once:
a file lock lets one of them generate while the others wait, and the files are written to a temporary name
and renamed into place, so a crash never leaves a half-written game behind.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import warnings
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from filelock import FileLock

from credo import paths


@dataclass(frozen=True)
class Level:
    """One registered difficulty of a challenge: its id suffix, the challenge settings and a step cap."""

    suffix: str
    settings: dict[str, Any]
    max_steps: int = 100
    description: str = ""


@dataclass(frozen=True)
class Challenge:
    """A TextWorld challenge as credo exposes it: its TextWorld name, credo's id stem and registered levels."""

    name: str
    stem: str
    defaults: dict[str, Any] = field(default_factory=dict)
    levels: tuple[Level, ...] = ()


def _coin_collector_levels() -> tuple[Level, ...]:
    """Coin Collector levels 1-100 are a chain of `level` rooms; +100 adds simple, +200 random distractor rooms.

    TextWorld 1.7 refuses games with more than 100 rooms, so the distractor levels stop at 150 and 233.
    The step cap grows with the quest: the shortest path is `quest_length` moves.
    """
    out = []
    for level in (1, 10, 25, 50, 125, 225):
        quest_length = (level - 1) % 100 + 1
        out.append(Level(f"L{level}", {"level": level}, max(100, 4 * quest_length),
                         f"{quest_length} rooms to the coin, {(level - 1) // 100} distractor room(s) per room"))
    return tuple(out)


def _treasure_hunter_levels() -> tuple[Level, ...]:
    """Treasure Hunter's three modes (easy 1-10, medium 11-20, hard 21-30): first and last easy and medium levels,
    hard levels 21 and 23 (quests of 3 and 7 steps).

    Hard levels with longer quests are left out of the registry: for some seeds TextWorld's quest search
    runs for many minutes (level 30, seed 57 had not finished after 11). They stay one kwarg away:
    `envs.make("credo/TextWorld-TreasureHunter-L23-v0", settings={"level": 30})`.
    """
    modes = {1: "easy: 5 rooms, no doors", 11: "medium: 10 rooms, closed doors", 21: "hard: 20 rooms, locked doors"}
    levels = {1: (1, 10), 11: (11, 20), 21: (21, 23)}
    return tuple(Level(f"L{level}", {"level": level}, 100, mode)
                 for first, mode in modes.items() for level in levels[first])


SIMPLE_REWARDS = ("dense", "balanced", "sparse")
SIMPLE_GOALS = ("detailed", "brief", "none")
"""tw-simple's `--rewards` and `--goal` choices, copied so that `import envs` need not import TextWorld's
generator (seconds); a test compares them with the challenge's own argument parser."""


def _simple_levels() -> tuple[Level, ...]:
    """Every combination of tw-simple's `--rewards` and `--goal` choices."""
    return tuple(Level(f"{r.title()}-{g.title()}", {"rewards": r, "goal": g}, 100, f"{r} rewards, {g} goal")
                 for r in SIMPLE_REWARDS for g in SIMPLE_GOALS)


_COOKING_FLAGS = {"open": False, "cook": False, "cut": False, "drop": False}

COOKING_LEVELS = (
    Level("L1", {"recipe": 1, "take": 1, "go": 1, **_COOKING_FLAGS, "open": True}, 50,
          "1 ingredient to fetch in the kitchen"),
    Level("L2", {"recipe": 1, "take": 1, "go": 1, **_COOKING_FLAGS, "open": True, "cook": True, "cut": True}, 50,
          "1 ingredient to fetch, cut and cook"),
    Level("L3", {"recipe": 2, "take": 2, "go": 6, **_COOKING_FLAGS, "open": True, "cook": True, "cut": True}, 100,
          "2 ingredients, 6 rooms, cut and cook"),
    Level("L4", {"recipe": 3, "take": 3, "go": 9, **_COOKING_FLAGS, "open": True, "cook": True, "cut": True}, 100,
          "3 ingredients, 9 rooms, cut and cook"),
    Level("L5", {"recipe": 3, "take": 3, "go": 12, "open": True, "cook": True, "cut": True, "drop": True}, 150,
          "3 ingredients, 12 rooms, cut and cook, limited inventory"),
)
"""credo's cooking difficulties, built from the challenge's own skills (recipe size, rooms, open/cook/cut/drop)
in the spirit of the First TextWorld Problems games; any other mix is one `settings=` kwarg away."""


def challenges() -> tuple[Challenge, ...]:
    """The four TextWorld challenges credo registers, with their levels."""
    return (
        Challenge("tw-simple", "Simple", {"test": False}, _simple_levels()),
        Challenge("tw-coin_collector", "CoinCollector", {}, _coin_collector_levels()),
        Challenge("tw-treasure_hunter", "TreasureHunter", {}, _treasure_hunter_levels()),
        Challenge("tw-cooking", "Cooking", {"recipe_seed": 0, "split": None}, COOKING_LEVELS),
    )


GAMES_PER_ID = 100
"""Games an id plays by default (`TextWorldEnv(num_games=...)`): `reset(seed=k)` plays game `k % GAMES_PER_ID`."""


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """The cache root: the explicit `cache_dir`, else credo's shared root (`$CREDO_CACHE` or `~/.cache/credo`)."""
    return Path(cache_dir).expanduser() if cache_dir else paths.cache_root()


def _slug(settings: dict[str, Any]) -> str:
    """A stable folder name for a settings dict, e.g. `go=6,recipe=2,cook`."""
    parts = []
    for key, value in sorted(settings.items()):
        if value is True:
            parts.append(key)
        elif value not in (False, None):
            parts.append(f"{key}={value}")
    return re.sub(r"[^A-Za-z0-9=,._-]", "_", ",".join(parts)) or "default"


def game_path(challenge: str, settings: dict[str, Any], seed: int, cache_dir: str | os.PathLike | None = None) -> Path:
    """Where game `seed` of `challenge` at `settings` lives in the cache (the `.z8`; its `.json` sits next to it).

    The TextWorld version is part of the path: another version's generator may make another game.
    """
    import textworld

    return cache_root(cache_dir) / "textworld" / f"tw{textworld.__version__}" / challenge / _slug(settings) / f"{seed}.z8"


def ensure_game(challenge: str, settings: dict[str, Any], seed: int,
                cache_dir: str | os.PathLike | None = None) -> Path:
    """Return the path of the game, generating it first when it is not in the cache (process-safe)."""
    path = game_path(challenge, settings, seed, cache_dir)
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path.with_suffix(".lock"))):
        if not path.exists():  # another process may have finished it while we waited
            _generate(challenge, settings, seed, path)
    return path


_KNOWLEDGE_BASES: dict[tuple, Any] = {}


@contextmanager
def _parse_knowledge_base_once() -> Iterator[None]:
    """Reuse TextWorld's parsed knowledge base across the games this process generates.

    Every challenge calls `KnowledgeBase.load(...)` for every game, which re-parses the same logic files (about
    half of a game's generation time). TextWorld treats a knowledge base as read-only (it shares one default
    instance between all games), so while credo generates, `load` returns one parse per set of paths.
    """
    from textworld.generator.data import KnowledgeBase

    original = KnowledgeBase.__dict__["load"]

    def load(target_dir: str | None = None, logic_path: str | None = None, grammar_path: str | None = None) -> Any:
        key = (target_dir, logic_path, grammar_path)
        if key not in _KNOWLEDGE_BASES:
            _KNOWLEDGE_BASES[key] = original.__func__(KnowledgeBase, target_dir, logic_path, grammar_path)
        return _KNOWLEDGE_BASES[key]

    KnowledgeBase.load = load
    try:
        yield
    finally:
        KnowledgeBase.load = original


SEED_RETRIES = 10
"""How many further generator seeds are tried when a game's own seed cannot make a game."""

RETRY_STRIDE = 100_003
"""Game `k`'s j-th fallback generator seed is `k + j * RETRY_STRIDE` (deterministic, far from other games)."""


def _generate(challenge: str, settings: dict[str, Any], seed: int, path: Path) -> None:
    """Generate and compile game `seed` into a temporary folder, then rename `.json` and `.z8` into place.

    Some seeds cannot make a game (TextWorld raises `QuestGenerationError`, e.g. no quest of the required
    length fits the sampled map); game `seed` then uses the first of `seed + j * RETRY_STRIDE`, j = 1, 2, ...
    that works, so every game index has a game and the same one on every machine.
    """
    import textworld
    import textworld.challenges
    from textworld.generator import QuestGenerationError, compile_game

    if challenge not in textworld.challenges.CHALLENGES:
        raise ValueError(f"unknown TextWorld challenge {challenge!r}; known: {sorted(textworld.challenges.CHALLENGES)}")
    tmp = Path(tempfile.mkdtemp(prefix=f".{seed}-", dir=path.parent))
    try:
        for attempt in range(SEED_RETRIES + 1):
            options = textworld.GameOptions()
            options.seeds = seed + attempt * RETRY_STRIDE
            options.path = str(tmp / "game.z8")
            options.force_recompile = True
            with _parse_knowledge_base_once(), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # grammar-variation and jericho notices, not problems
                try:
                    game = textworld.challenges.CHALLENGES[challenge][1](dict(settings), options)
                except QuestGenerationError:
                    continue
                compiled = Path(compile_game(game, options))
            os.replace(compiled.with_suffix(".json"), path.with_suffix(".json"))
            os.replace(compiled, path)  # the .z8 appears last: its presence means the game is complete
            return
        raise ValueError(f"{challenge} {settings}: TextWorld could not make game {seed} "
                         f"(tried {SEED_RETRIES + 1} generator seeds)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _generate_one(args: tuple[str, dict[str, Any], int, str | None]) -> int:
    ensure_game(*args)
    return args[2]


def _challenge_of(env_id: str) -> tuple[str, dict[str, Any]]:
    """(challenge, settings) of a credo TextWorld id; a one-line ValueError for another family."""
    import gymnasium as gym

    from envs.registry import card

    if card(env_id).family != "textworld":
        raise ValueError(f"{env_id} is not a TextWorld env; only TextWorld games are generated ahead of time")
    kwargs = gym.spec(env_id).kwargs
    return kwargs["challenge"], kwargs["settings"]


def missing_games(env_id: str, seeds: Iterable[int], cache_dir: str | os.PathLike | None = None) -> list[int]:
    """The seeds among `seeds` whose game of `env_id` is not in the cache yet (generated on first use)."""
    challenge, settings = _challenge_of(env_id)
    return [s for s in seeds if not game_path(challenge, settings, s, cache_dir).exists()]


def pregenerate(env_id: str, seeds: Iterable[int], workers: int = 1, cache_dir: str | os.PathLike | None = None,
                on_done: Any = None) -> list[Path]:
    """Generate the games `seeds` of a credo TextWorld id into the cache, `workers` processes at a time.

    `on_done(seed)` is called as each game is ready (the CLI advances its progress bar with it).
    """
    challenge, settings = _challenge_of(env_id)
    root = str(cache_root(cache_dir))
    jobs = [(challenge, settings, int(s), root) for s in seeds]
    if workers <= 1:
        for job in jobs:
            _generate_one(job)
            if on_done:
                on_done(job[2])
    else:
        with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
            for fut in as_completed([pool.submit(_generate_one, job) for job in jobs]):
                seed = fut.result()
                if on_done:
                    on_done(seed)
    return [game_path(challenge, settings, s, root) for _, _, s, _ in jobs]
