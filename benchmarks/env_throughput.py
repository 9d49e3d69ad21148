"""Env throughput: steps/s of each credo text env next to its raw underlying env, in the same run.

    python benchmarks/env_throughput.py [--steps 3000] [--only minihack]

Both sides take random actions from the same seeded generator (the text env gets the admissible action's
name, the raw env its index) and reset when an episode ends; resets are timed too. The ratio text/raw is
what matters (absolute numbers depend on the machine). Rates are per second of this process's CPU time,
so that other jobs on a shared machine do not distort them.

To add a family, append `Case(name, text_env_factory, raw_env_factory)` entries to `CASES` in your own
section below; the raw factory returns the underlying env, stepped with integer actions (or `raw_action`
for envs whose raw actions are not indices).
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.progress import Progress
from rich.table import Table


@dataclass(frozen=True)
class Case:
    """One benchmark row: a text env and the raw env it wraps."""

    name: str
    text_env_factory: Callable[[], Any]
    raw_env_factory: Callable[[], Any]
    raw_action: Callable[[Any, random.Random], Any] | None = None
    """Draws a raw action; default: a uniform index into the raw env's discrete action space."""


CASES: list[Case] = []


# -- NetHack / MiniHack ---------------------------------------------------------------------------
def _credo(env_id: str, **kwargs: Any) -> Callable[[], Any]:
    def make() -> Any:
        import envs

        return envs.make(env_id, **kwargs)
    return make


def _raw(env_id: str) -> Callable[[], Any]:
    def make() -> Any:
        import warnings

        import gymnasium as gym
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import minihack  # noqa: F401
            import nle  # noqa: F401
        return gym.make(env_id)
    return make


for _id in ("MiniHack-Room-5x5-v0", "MiniHack-Corridor-R3-v0", "MiniHack-KeyRoom-S5-v0", "NetHackScore-v0"):
    CASES.append(Case(_id, _credo(f"credo/{_id}"), _raw(_id)))
CASES.append(Case("MiniHack-Room-5x5-v0 compact", _credo("credo/MiniHack-Room-5x5-v0", compact=True),
                  _raw("MiniHack-Room-5x5-v0")))
CASES.append(Case("NetHackScore-v0 crop=4", _credo("credo/NetHackScore-v0", crop=4), _raw("NetHackScore-v0")))


# -- WebShop ---------------------------------------------------------------------------------------
# The shop has no raw env underneath, so it reports its own table: for 1k and 100k products, the time to
# build the shop cold (search index built) and warm (index loaded from the disk cache), the memory a cached
# build holds and peaks at (tracemalloc), the per-episode reset time and random-admissible steps/s, all in
# CPU seconds of this process; every 100k number is also given as a ratio to the 1k baseline of the same run.
def _webshop_row(num_products: int, steps: int, seed: int, cache_dir: str) -> dict[str, float]:
    import tracemalloc

    from envs.webshop.env import WebShopEnv, load_shop

    def build() -> tuple[WebShopEnv, float]:
        load_shop.cache_clear()  # a fresh shop each time (the disk cache of the index stays)
        start = time.process_time()
        env = WebShopEnv(num_products=num_products, cache_dir=cache_dir)
        return env, time.process_time() - start

    _, cold = build()
    env, warm = build()
    tracemalloc.start()  # memory of a third, cached build: what a run holds (numpy arrays included)
    build()
    held, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    start = time.process_time()
    for s in range(200):
        env.reset(seed=seed + s)
    reset_ms = (time.process_time() - start) / 200 * 1e3
    run_text(env, min(200, steps), seed)  # warm-up
    return {"cold build s": cold, "cached build s": warm, "memory held MB": held / 1e6,
            "memory peak MB": peak / 1e6, "reset ms": reset_ms, "steps/s": run_text(env, steps, seed)}


def webshop_report(args: argparse.Namespace) -> None:
    """The WebShop table (runs unless `--only` names another family)."""
    if args.only and args.only.lower() not in "webshop":
        return
    import tempfile

    rows = {}
    with tempfile.TemporaryDirectory() as cache_dir, Progress(console=Console(stderr=True)) as progress:
        task = progress.add_task("WebShop", total=2)
        for n in (1000, 100_000):
            progress.update(task, description=f"WebShop {n:,} products")
            rows[n] = _webshop_row(n, args.steps, args.seed, cache_dir)
            progress.advance(task)
    table = Table(title=f"WebShop ({args.steps} random admissible steps; 100k as a ratio to 1k)")
    table.add_column("metric")
    for column in ("1k products", "100k products", "100k / 1k"):
        table.add_column(column, justify="right")
    for metric in rows[1000]:
        small, large = rows[1000][metric], rows[100_000][metric]
        ratio = f"{large / small:.2f}" if small > 0 else "-"
        table.add_row(metric, f"{small:,.3f}", f"{large:,.3f}", ratio)
    Console().print(table)
    warm_vs_cold = rows[100_000]["cached build s"] / rows[100_000]["cold build s"]
    Console().print(f"WebShop: 100k shop builds in {rows[100_000]['cached build s']:.2f} s from the index cache "
                    f"({warm_vs_cold:.3f} of the cold build), resets in {rows[100_000]['reset ms']:.2f} ms")


REPORTS: list[Callable[[argparse.Namespace], None]] = [webshop_report]
"""Families whose numbers do not fit the text/raw table print their own report after it."""


# -- TextWorld -------------------------------------------------------------------------------------
# The raw side is TextWorld's own interpreter env on the same game with the same requested infos (admissible
# commands, score, inventory...), stepped with random admissible commands: the ratio is the wrapper's cost.
# Both sides play game 0 only (`num_games=1`), so no game is generated while the clock runs.
class _RawTextWorld:
    """`textworld.start` on the game of a credo TextWorld id, behind the reset/step calls the runner makes."""

    def __init__(self, env_id: str) -> None:
        import gymnasium as gym
        import textworld

        from envs.textworld import ensure_game

        kwargs = gym.spec(env_id).kwargs
        path = str(ensure_game(kwargs["challenge"], kwargs["settings"], 0))
        infos = textworld.EnvInfos(feedback=True, admissible_commands=True, score=True, max_score=True,
                                   won=True, lost=True, moves=True, objective=True, inventory=True)
        self.env = textworld.start(path, infos)
        self.max_steps, self.t, self.state = kwargs["max_steps"], 0, None

    def reset(self, seed: int | None = None) -> tuple[Any, dict]:
        self.state, self.t = self.env.reset(), 0
        return self.state, {}

    def step(self, command: str) -> tuple[Any, float, bool, bool, dict]:
        self.state, reward, done = self.env.step(command)
        self.t += 1
        return self.state, reward, done, self.t >= self.max_steps, {}

    def close(self) -> None:
        self.env.close()


def _random_command(env: _RawTextWorld, rng: random.Random) -> str:
    commands = env.state.admissible_commands
    return commands[rng.randrange(len(commands))]


for _id in ("TextWorld-Simple-Dense-Detailed-v0", "TextWorld-Cooking-L3-v0"):
    CASES.append(Case(_id, _credo(f"credo/{_id}", num_games=1), lambda _id=_id: _RawTextWorld(f"credo/{_id}"),
                      _random_command))


# -- runner ---------------------------------------------------------------------------------------
def run_text(env: Any, steps: int, seed: int) -> float:
    """Steps/s of a text env taking random admissible actions."""
    rng = random.Random(seed)
    _, info = env.reset(seed=seed)
    start = time.process_time()
    for _ in range(steps):
        names = info["admissible_actions"]
        _, _, terminated, truncated, info = env.step(names[rng.randrange(len(names))])
        if terminated or truncated:
            _, info = env.reset()
    return steps / (time.process_time() - start)


def run_raw(env: Any, steps: int, seed: int, draw: Callable[[Any, random.Random], Any] | None) -> float:
    """Steps/s of the raw env taking random actions."""
    rng = random.Random(seed)
    env.reset(seed=seed)
    start = time.process_time()
    for _ in range(steps):
        action = draw(env, rng) if draw else rng.randrange(env.action_space.n)
        _, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            env.reset()
    return steps / (time.process_time() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=3000, help="steps per env and side")
    parser.add_argument("--only", default="", help="run only cases whose name contains this text")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    cases = [c for c in CASES if args.only.lower() in c.name.lower()]
    table = Table(title=f"env throughput ({args.steps} random steps each, resets included)")
    for column in ("case", "text steps/s", "raw steps/s", "text/raw"):
        table.add_column(column, justify="left" if column == "case" else "right")
    ratios = []
    with Progress(console=Console(stderr=True)) as progress:
        task = progress.add_task("benchmarking", total=len(cases))
        for case in cases:
            progress.update(task, description=case.name)
            text_env, raw_env = case.text_env_factory(), case.raw_env_factory()
            run_text(text_env, min(200, args.steps), args.seed)  # warm-up (lazy tables, caches)
            raw_rate = run_raw(raw_env, args.steps, args.seed, case.raw_action)
            text_rate = run_text(text_env, args.steps, args.seed)
            text_env.close()
            raw_env.close()
            ratios.append(text_rate / raw_rate)
            table.add_row(case.name, f"{text_rate:,.0f}", f"{raw_rate:,.0f}", f"{text_rate / raw_rate:.2f}")
            progress.advance(task)
    Console().print(table)
    if ratios:
        Console().print(f"{len(ratios)} cases; text/raw ratio min {min(ratios):.2f}, max {max(ratios):.2f}")
    for report in REPORTS:
        report(args)


if __name__ == "__main__":
    main()
