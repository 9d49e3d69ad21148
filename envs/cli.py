"""Env commands: `credo envs list|check|pregenerate` and the top-level `credo play`.

Heavy libraries (nle, textworld) load only when a command runs, through `import envs`.
"""

from __future__ import annotations

import functools
import os
import sys
import time
from collections import Counter
from collections.abc import Callable
from typing import Annotated, Any

import typer

envs_app = typer.Typer(help="List, check and prepare the text environments.", no_args_is_help=True)

QUIT_WORDS = ("quit", "exit", "q")


def _one_line_errors(command: Callable[..., None]) -> Callable[..., None]:
    """Bad input (unknown id, bad seed range) ends the command with one line, never a traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        try:
            command(*args, **kwargs)
        except (ValueError, KeyError) as err:
            msg = err.args[0] if isinstance(err, KeyError) and err.args else str(err)
            typer.secho(f"error: {msg}", fg=typer.colors.RED, err=True)
            sys.exit(2)

    return wrapper


def parse_seeds(text: str) -> list[int]:
    """`"0-99"`, `"3"`, `"0,5,10-12"` -> the seeds; a one-line `ValueError` for anything else."""
    seeds: list[int] = []
    for part in text.split(","):
        lo, sep, hi = part.strip().partition("-")
        try:
            first, last = int(lo), int(hi) if sep else int(lo)
        except ValueError:
            raise ValueError(f"--seeds {text!r}: expected N, A-B or a comma-separated list of them") from None
        if first < 0 or last < first:
            raise ValueError(f"--seeds {text!r}: {part.strip()!r} is not a range of seeds >= 0")
        seeds.extend(range(first, last + 1))
    return seeds


def _select(ids: list[str], family: str | None) -> list[str]:
    """Expand `all` and filter by family; unknown ids give a one-line KeyError."""
    import envs

    all_cards = envs.cards()
    chosen = list(all_cards) if "all" in ids else ids
    for env_id in chosen:
        envs.card(env_id)
    return [i for i in chosen if family is None or all_cards[i].family == family]


@envs_app.command("list")
@_one_line_errors
def list_envs(family: Annotated[str | None, typer.Option(help="Show only this family (e.g. textworld).")] = None,
              ) -> None:
    """Table of every registered env: id, family, an instruction example and the action mode."""
    from rich.console import Console

    import envs
    from credo.tables import Col, print_table

    all_cards = envs.cards()
    cards = [c for c in all_cards.values() if family is None or c.family == family]
    if not cards:
        families = sorted({c.family for c in all_cards.values()})
        raise ValueError(f"no env of family {family!r}; families: {', '.join(families)}")
    cols = [Col("id", key=True), Col("action mode"), Col("family", drop=1),  # ids are copied: never cut
            Col("instruction example", drop=2, min_width=24)]
    console = Console()
    print_table(f"credo envs ({len(cards)})", cols,
                [[c.id, c.action_mode, c.family, c.instruction_example] for c in cards], console)
    for line in envs.load_plugins():
        console.print(f"[yellow]warning:[/] {line}")


def _check_one(env_id: str, seed: int) -> tuple[str, list[str], float]:
    """The problems of one id and the seconds it took (run in a worker process, or here with `--workers 1`).

    Warnings and log lines of the envs are silenced: the report lists what fails, and family-missing notices
    are shown once, by the parent.
    """
    import contextlib
    import io
    import logging
    import warnings

    from envs.check import check_env_id

    start = time.perf_counter()
    logging.disable(logging.WARNING)
    try:  # libraries' own progress bars (bm25s' tqdm while a large shop builds its index) go to stderr: not here
        with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            problems = check_env_id(env_id, seed=seed)
    finally:
        logging.disable(logging.NOTSET)
    return env_id, problems, time.perf_counter() - start


def _run_checks(ids: list[str], seed: int, workers: int, done: Callable[[str, list[str], float], None]) -> None:
    """Check `ids` in this process (`workers == 1`) or in a pool of `workers` processes, calling `done` per id.

    A check process that dies (a crash in an env's native code) breaks the pool; the ids not finished then are
    checked again one process each, so the crash is pinned on the id that caused it.
    """
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool
    from multiprocessing import get_context

    if workers == 1:
        for env_id in ids:
            done(*_check_one(env_id, seed))
        return
    finished: set[str] = set()
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        try:
            for fut in as_completed([pool.submit(_check_one, env_id, seed) for env_id in ids]):
                env_id, problems, secs = fut.result()
                finished.add(env_id)
                done(env_id, problems, secs)
        except BrokenProcessPool:
            pass
    for env_id in (i for i in ids if i not in finished):
        with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
            try:
                done(*pool.submit(_check_one, env_id, seed).result())
            except BrokenProcessPool:
                done(env_id, ["the check process died (a crash in the env's native code?)"], 0.0)


def _interleave(ids: list[str]) -> list[str]:
    """The ids with the families spread evenly through the order, so that the time left, estimated from the checks
    done so far, is not set by the fast MiniHack ids when the slow TextWorld ones come last."""
    import envs

    cards = envs.cards()
    by_family: dict[str, list[str]] = {}
    for env_id in ids:
        by_family.setdefault(cards[env_id].family, []).append(env_id)
    place = {env_id: (k + 0.5) / len(group) for group in by_family.values() for k, env_id in enumerate(group)}
    return sorted(ids, key=lambda i: (place[i], i))


def _cold_textworld(ids: list[str], seed: int) -> int:
    """How many of `ids` are TextWorld ids whose checked game is not generated yet."""
    import envs

    tw = [i for i in ids if envs.card(i).family == "textworld"]
    if not tw:
        return 0
    from envs.textworld.games import GAMES_PER_ID, missing_games

    return sum(bool(missing_games(i, [seed % GAMES_PER_ID])) for i in tw)


@envs_app.command("check")
@_one_line_errors
def check(
    ids: Annotated[list[str], typer.Argument(help="Env ids to check, or `all`.")],
    family: Annotated[str | None, typer.Option(help="Only ids of this family.")] = None,
    workers: Annotated[int, typer.Option(help="Parallel check processes (0: one per CPU; 1: this process).")] = 0,
    seed: Annotated[int, typer.Option(help="Seed of the checked episodes.")] = 0,
) -> None:
    """Gymnasium's check_env plus credo's contract checks; exit code 1 when anything fails."""
    from rich.console import Console
    from rich.table import Table

    import envs
    from credo.progress import counting

    console = Console()
    selected = _select(ids, family)
    if not selected:
        raise ValueError(f"no env matches {ids} with family {family!r}; see `credo envs list`")
    workers = min(workers or os.cpu_count() or 1, len(selected))
    selected = _interleave(selected)
    cold = _cold_textworld(selected, seed)
    if cold:
        console.print(f"{cold} TextWorld ids have no cached game yet: each is generated on first use, the slow part "
                      "of a first check (`credo envs pregenerate` fills the cache ahead)", markup=False)
    results: dict[str, tuple[list[str], float]] = {}
    with counting(f"checking {len(selected)} envs", len(selected), console=console) as tick:

        def done(env_id: str, problems: list[str], secs: float) -> None:
            results[env_id] = (problems, secs)
            tick(env_id)

        _run_checks(selected, seed, workers, done)
    plugin_errors = envs.load_plugins()
    failed = {i: p for i, (p, _) in results.items() if p}
    for env_id, problems in sorted(failed.items()):
        console.print(f"[bold red]FAIL[/] {env_id}")
        for line in problems:
            console.print(f"  - {line}", markup=False)
    for line in plugin_errors:
        console.print(f"[bold red]FAIL[/] {line}", markup=False)
    cards = envs.cards()
    by_family: dict[str, Counter] = {}
    for env_id, (problems, secs) in results.items():
        row = by_family.setdefault(cards[env_id].family, Counter())
        row["passed" if not problems else "failed"] += 1
        row["seconds"] += secs
    table = Table(title="credo envs check")
    for col in ("family", "passed", "failed", "seconds"):
        table.add_column(col)
    for fam, row in sorted(by_family.items()):
        table.add_row(fam, str(row["passed"]), str(row["failed"]), f"{row['seconds']:.1f}")
    console.print(table)
    ok = not failed and not plugin_errors
    console.print(f"[bold {'green' if ok else 'red'}]{len(results) - len(failed)}/{len(results)} envs pass[/]")
    if not ok:
        raise typer.Exit(1)


@envs_app.command("pregenerate")
@_one_line_errors
def pregenerate(
    env_id: Annotated[str, typer.Argument(help="A TextWorld env id, e.g. credo/TextWorld-CoinCollector-L5-v0.")],
    seeds: Annotated[str, typer.Option(help="Games to generate: N, A-B or a comma-separated list.")] = "0-99",
    workers: Annotated[int, typer.Option(help="Generating processes (0: one per CPU).")] = 0,
    cache_dir: Annotated[str | None, typer.Option(help="Cache root (default $CREDO_CACHE or ~/.cache/credo).")] = None,
) -> None:
    """Generate TextWorld games into the cache ahead of training (reused across runs and processes)."""
    from rich.console import Console
    from rich.progress import Progress

    from envs.textworld import cache_root
    from envs.textworld import pregenerate as generate

    seed_list = parse_seeds(seeds)
    start = time.perf_counter()
    with Progress(transient=True) as progress:
        task = progress.add_task(f"generating {env_id}", total=len(seed_list))
        paths = generate(env_id, seed_list, workers=workers or os.cpu_count() or 1, cache_dir=cache_dir,
                         on_done=lambda _: progress.advance(task))
    Console().print(f"{len(paths)} games of {env_id} ready in {cache_root(cache_dir)} "
                    f"({time.perf_counter() - start:.1f} s)")


@_one_line_errors
def play(env_id: Annotated[str, typer.Argument(help="Env id, e.g. credo/MiniHack-Room-5x5-v0.")],
         seed: Annotated[int | None, typer.Option(help="Episode seed (random when omitted).")] = None) -> None:
    """Play an env in the terminal: type an action or its number; `quit` ends the episode."""
    from rich.console import Console
    from rich.markup import escape
    from rich.panel import Panel
    from rich.table import Table

    import envs

    console = Console()
    env = envs.make(env_id)
    obs, info = env.reset(seed=seed)
    console.print(Panel(info["instruction"] or "(no instruction)", title=env_id), markup=False)
    steps, ret, ended = 0, 0.0, "quit"
    try:
        while True:
            console.print(Panel(obs, title=f"step {steps}"), markup=False)
            actions = info["admissible_actions"]
            if actions:
                console.print("  ".join(f"[cyan]{k}[/] {escape(a)}" for k, a in enumerate(actions, 1)), highlight=False)
            try:
                text = console.input("action> ").strip()
            except EOFError:
                break
            if text.lower() in QUIT_WORDS:
                break
            action = actions[int(text) - 1] if text.isdigit() and 1 <= int(text) <= len(actions) else text
            obs, reward, terminated, truncated, info = env.step(action)
            steps, ret = steps + 1, ret + reward
            if not info["valid_action"]:
                console.print("[yellow]not a valid action[/]")
            if terminated or truncated:
                console.print(Panel(obs, title=f"step {steps}"), markup=False)
                ended = "terminated" if terminated else "truncated"
                break
    finally:
        env.close()
    table = Table(title="episode")
    for col in ("steps", "return", "success", "score", "ended"):
        table.add_column(col)
    table.add_row(str(steps), f"{ret:g}", str(info["success"]), f"{info['score']:.3g}", ended)
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add `credo envs ...` and `credo play` to the root app."""
    app.add_typer(envs_app, name="envs")
    app.command("play")(play)
