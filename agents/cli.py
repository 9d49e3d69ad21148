"""The agent commands: `credo train`, `eval`, `sft`, `collect` and `credo runs list|show|plot|compare`.

Each command is thin: flags become config overrides (`KEY=VALUE`, the same syntax as extra arguments), and
the work happens in `agents.trainer`, `agents.evaluate`, `agents.sft`, `agents.demos`, `agents.plots`.
Heavy libraries are imported inside the commands so `credo --help` stays fast.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

runs_app = typer.Typer(help="Inspect runs under runs/: list, show, plot and compare learning curves; serve: a web viewer.",
                       no_args_is_help=True)

OVERRIDES_HELP = "Config overrides KEY=VALUE (dotted keys reach nested configs, e.g. policy.lora=true)."


def _one_line_errors(command: Callable[..., None]) -> Callable[..., None]:
    """Bad input (config, file, demonstrations, env id) ends the command with one line, never a traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        try:
            command(*args, **kwargs)
        except (ValueError, KeyError, FileNotFoundError) as err:
            msg = err.args[0] if isinstance(err, KeyError) and err.args else str(err)
            typer.secho(f"error: {msg}", fg=typer.colors.RED, err=True)
            sys.exit(2)

    return wrapper


def _flag_overrides(**flags: Any) -> list[str]:
    """`--model tiny` -> `policy.model=tiny`: flags given on the command line become overrides (None = not given)."""
    return [f"{key}={value}" for key, value in flags.items() if value is not None]


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return f"{value:.{digits}f}" if abs(value) < 1e5 else f"{value:.3g}"
    return str(value)


KEYS = {"name": 0, "file": 0, "key": 0, "metric": 0, "env": 2, "credit": 1}
"""Columns holding names and ids, never cut (credo.tables), with their drop order when a table is too wide
(0: never dropped): run names, env ids, credit specs and config keys are what people copy into commands."""


def _print_table(title: str, rows: list[dict[str, Any]]) -> None:
    """`rows` (dicts with the same keys) as a table that stays readable at 80 columns and in a pipe."""
    from credo.tables import Col, print_table

    names = list(rows[0]) if rows else []
    cols = [Col(n, key=True, drop=KEYS[n]) if n in KEYS else Col(n, min_width=24 if n == "value" else 6)
            for n in names]
    print_table(title, cols, [[_fmt(row.get(n)) for n in names] for row in rows])


RUNS = Path("runs")
Overrides = Annotated[list[str] | None, typer.Argument(help=OVERRIDES_HELP, show_default=False)]
Root = Annotated[Path, typer.Option(help="Folder holding the runs.")]
Names = Annotated[list[str], typer.Argument(help="Run names (under --root) or run folders.")]
Metrics = Annotated[list[str] | None, typer.Option("--metric", help="Metric to show (repeat for several).")]
Smooth = Annotated[int, typer.Option(min=1, help="Trailing moving-average window (iterations) of the curves.")]


@_one_line_errors
def train(
    overrides: Overrides = None,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="YAML config (agents/config.py).")] = None,
    env: Annotated[str | None, typer.Option(help="Env id, e.g. credo/MiniHack-Room-5x5-v0 (env=...).")] = None,
    model: Annotated[str | None, typer.Option(help="'tiny', a hub id or a checkpoint (policy.model=...).")] = None,
    credit: Annotated[str | None, typer.Option(help="Credit spec, e.g. 'outcome' or 'spa:1.0,oprl:0.5'.")] = None,
    name: Annotated[str | None, typer.Option(help="Run name: runs/<name>/ (default <env>-<credit>-<time>).")] = None,
    resume: Annotated[str | None, typer.Option(help="Resume runs/NAME from its latest checkpoint.")] = None,
    judge_url: Annotated[list[str] | None, typer.Option(help="Judge server base URL (judge_url=...); repeat it for "
                                                         "replicas: items are routed by key hash.")] = None,
) -> None:
    """Train a policy with on-policy RL: rollout -> credit modules -> advantages -> PPO update."""
    from agents.trainer import train_from_cli

    flags = _flag_overrides(env=env, **{"policy.model": model}, credit=credit, name=name,
                            judge_url=",".join(judge_url) if judge_url else None)
    train_from_cli(str(config) if config else None, flags + list(overrides or []), resume)


@_one_line_errors
def evaluate(
    target: Annotated[str | None, typer.Argument(help="A run (name or folder), a model folder, a hub id or "
                                                 "'tiny'.", show_default=False)] = None,
    overrides: Overrides = None,
    env: Annotated[str | None, typer.Option(help="Env id (default: the run's env).")] = None,
    episodes: Annotated[int | None, typer.Option(help="Number of episodes (default 100).")] = None,
    greedy: Annotated[bool, typer.Option("--greedy", help="Take the most likely action, not a sample.")] = False,
    seed: Annotated[int | None, typer.Option(help="Rollout seed: the same seed plays the same tasks.")] = None,
    policy: Annotated[str | None, typer.Option(help="'model' (the target) or 'random' (the baseline).")] = None,
    root: Root = RUNS,
) -> None:
    """Evaluate a policy: success and score with 95% confidence intervals, mean length, efficiency."""
    from agents.evaluate import EvalConfig, evaluate_from_config, print_result

    overrides = list(overrides or [])
    if target is not None and "=" in target and not Path(target).exists():  # `credo eval policy=random ...`
        target, overrides = None, [target, *overrides]
    flags = _flag_overrides(target=target, env=env, episodes=episodes, seed=seed, policy=policy,
                            greedy=True if greedy else None)
    cfg = EvalConfig.build({}, flags + overrides, source="eval")
    result, path = evaluate_from_config(cfg, root=root)
    print_result(result, path)


@_one_line_errors
def sft(
    overrides: Overrides = None,
    demos: Annotated[Path | None, typer.Option(help="Demonstrations JSONL (`credo collect`).")] = None,
    model: Annotated[str | None, typer.Option(help="'tiny', a hub id or a checkpoint to start from.")] = None,
    out: Annotated[str | None, typer.Option(help="Run name: the result goes to runs/<out>/.")] = None,
    epochs: Annotated[int | None, typer.Option(help="Passes over the demonstrations.")] = None,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="YAML config (agents/sft.py).")] = None,
    resume: Annotated[str | None, typer.Option(help="Resume the SFT run runs/NAME from its latest checkpoint "
                                                    "(with epochs=N to train further).")] = None,
    root: Root = RUNS,
) -> None:
    """Supervised warm start on demonstrations; saves a policy `credo train policy.model=<path>` starts from."""
    from agents.sft import sft_from_cli

    flags = _flag_overrides(demos=demos, **{"policy.model": model}, name=out, epochs=epochs)
    sft_from_cli(str(config) if config else None, flags + list(overrides or []), resume, root)


@_one_line_errors
def collect(
    env: Annotated[str, typer.Option(help="Env id, e.g. credo/WebShop-v0 or a TextWorld id.")],
    out: Annotated[Path, typer.Option(help="Output JSONL (schema: agents/demos.py).")],
    episodes: Annotated[int, typer.Option(min=1, help="Episodes to play.")] = 100,
    policy: Annotated[str, typer.Option(help="Who plays: 'expert' (walkthrough or oracle).")] = "expert",
    seed: Annotated[int, typer.Option(help="Seed of the first episode (episode i uses seed+i).")] = 0,
    keep_failed: Annotated[bool, typer.Option("--keep-failed", help="Keep episodes the expert failed.")] = False,
    env_kwargs: Annotated[str | None, typer.Option(
        help="Env keyword arguments as a JSON object, e.g. '{\"item_names\": true}'.")] = None,
) -> None:
    """Collect demonstrations (for `credo sft`) from an env's expert."""
    from agents.demos import collect_expert, write_demos
    from credo.progress import counting

    if policy != "expert":
        raise ValueError(f"--policy {policy!r}: only 'expert' collects demonstrations")
    try:
        kwargs = json.loads(env_kwargs) if env_kwargs else {}
    except json.JSONDecodeError as err:
        raise ValueError(f"--env-kwargs {env_kwargs!r}: not JSON ({err})") from None
    if not isinstance(kwargs, dict):
        raise ValueError(f"--env-kwargs {env_kwargs!r}: expected a JSON object")
    with counting(f"collect {env}", episodes) as tick:
        demos = collect_expert(env, episodes, seed=seed, env_kwargs=kwargs, keep_failed=keep_failed, on_episode=tick)
    write_demos(out, demos)
    steps = sum(len(d.steps) for d in demos)
    _print_table("collected", [{"env": env, "episodes played": episodes, "kept": len(demos), "steps": steps,
                                "success": sum(d.success for d in demos) / max(len(demos), 1), "file": str(out)}])


@runs_app.command("list")
@_one_line_errors
def runs_list(root: Root = RUNS) -> None:
    """A table of runs: env, credit, iterations, env steps, last success, wall time."""
    from agents.runs import RunDir

    rows = [r.summary() for r in RunDir.find_all(root)]
    if not rows:
        typer.echo(f"no runs under {root}/")
        return
    for row in rows:
        wall = row.pop("wall_time")
        row["wall time"] = None if wall is None else f"{wall / 60:.1f} min" if wall >= 60 else f"{wall:.0f} s"
    _print_table(f"runs in {root}/", rows)


@runs_app.command("show")
@_one_line_errors
def runs_show(name: Annotated[str, typer.Argument(help="Run name or folder.")], root: Root = RUNS) -> None:
    """Config summary, last metrics and best values of one run."""
    from agents.plots import best_value
    from agents.runs import RunDir

    run = RunDir.open(name, root=root)
    cfg = run.config()
    flat = {k: v for k, v in cfg.items() if not isinstance(v, dict)}
    for section, values in cfg.items():
        if isinstance(values, dict):
            flat.update({f"{section}.{k}": v for k, v in values.items() if not isinstance(v, dict)})
    _print_table(f"{run.name}: config", [{"key": k, "value": v} for k, v in flat.items()])
    rows = run.read_metrics()
    if not rows:
        typer.echo("no metrics logged yet")
        return
    keys = [k for k in rows[-1] if k not in ("iteration", "time")]
    _print_table(f"{run.name}: iteration {rows[-1].get('iteration')}",
                 [{"metric": k, "last": rows[-1].get(k), "best": best_value(rows, k)} for k in keys])
    ckpt = run.latest_checkpoint()
    typer.echo(f"latest checkpoint: {ckpt if ckpt else 'none'}")


@runs_app.command("plot")
@_one_line_errors
def runs_plot(names: Names, metric: Metrics = None,
              out: Annotated[Path | None, typer.Option(help="PNG path (default runs/<first>/<metric>.png).")] = None,
              smooth: Smooth = 1, root: Root = RUNS) -> None:
    """Learning curves (x = env steps) of several runs on one figure, as a PNG (default metric: success)."""
    from agents.plots import plot_runs
    from agents.runs import RunDir

    metric = metric or ["success"]
    runs = [RunDir.open(n, root=root) for n in names]
    out = out or runs[0].path / f"{'-'.join(metric)}.png"
    typer.echo(f"wrote {plot_runs(runs, metric, out, smooth=smooth)}")


@runs_app.command("compare")
@_one_line_errors
def runs_compare(names: Names, metric: Metrics = None,
                 out: Annotated[Path | None, typer.Option(help="Also draw the curves into this PNG.")] = None,
                 smooth: Smooth = 1, root: Root = RUNS) -> None:
    """Last and best value of each metric per run (default: success, episode_length); --out adds a figure. A suite
    folder (`credo bench credit`) prints the suite's report instead."""
    from agents.bench.report import is_suite
    from agents.plots import compare_rows, plot_runs
    from agents.runs import RunDir

    suites = [p for p in (Path(n) if Path(n).is_dir() else root / n for n in names) if is_suite(p)]
    if suites:  # a suite folder: its report (rebuilt from the runs finished so far), not a row per run
        from agents.bench.cli import print_report
        from agents.bench.report import build, markdown

        if len(names) > 1:
            raise ValueError("runs compare: give one suite folder, or run folders, not both")
        print_report(markdown(build(suites[0])), suites[0])
        return
    metric = metric or ["success", "episode_length"]
    runs = [RunDir.open(n, root=root) for n in names]
    _print_table("compare", compare_rows(runs, metric))
    if out is not None:
        typer.echo(f"wrote {plot_runs(runs, metric, out, smooth=smooth)}")


def register(app: typer.Typer) -> None:
    """Add this part's commands to the root app."""
    app.command("train")(train)
    app.command("eval")(evaluate)
    app.command("sft")(sft)
    app.command("collect")(collect)
    app.add_typer(runs_app, name="runs")
