"""`credo bench credit`: run a suite of (task x arm x seed) training runs and report them with CIs."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from agents.cli import RUNS, Root, _one_line_errors

bench_app = typer.Typer(help="Benchmark suites: credit-assignment methods compared on held-out evaluations "
                             "with confidence intervals.", no_args_is_help=True)

DEFAULT_SUITE = "credit"


def print_report(text: str, suite_dir: Path) -> None:
    """The report at the end of a command: rendered on a terminal, plain Markdown when piped."""
    from rich.console import Console
    from rich.markdown import Markdown

    console = Console()
    if console.is_terminal:
        console.print(Markdown(text))
    else:
        print(text)
    console.print(f"report: {suite_dir / 'report.md'} (and report.json, figures)")


@bench_app.command("credit")
@_one_line_errors
def bench_credit(
    suite: Annotated[str, typer.Option(help="A shipped suite by name (agents/bench/suites/: credit, smoke) or "
                                            "a suite YAML file.")] = DEFAULT_SUITE,
    seeds: Annotated[int | None, typer.Option(min=1, help="Seeds 0..N-1 for every task (default: the suite's).")]
    = None,
    smoke: Annotated[bool, typer.Option("--smoke", help="The smoke suite (about a minute; what CI runs).")] = False,
    shard: Annotated[str | None, typer.Option(help="Run only shard i of n (i/n, 1-based), e.g. 1/2.")] = None,
    tasks: Annotated[str | None, typer.Option(help="Only these tasks of the suite (comma-separated).")] = None,
    arms: Annotated[str | None, typer.Option(help="Only these arms of the suite (comma-separated).")] = None,
    workers: Annotated[int, typer.Option(min=1, help="Runs side by side, each in its own process with one torch "
                                                     "thread.")] = 1,
    diagnostic: Annotated[bool, typer.Option("--diagnostic", help="No RL: the credit-quality diagnostic (each "
                                                                  "module's advantage vs an oracle advantage).")]
    = False,
    report_only: Annotated[bool, typer.Option("--report-only", help="Only (re)build the report from the runs "
                                                                    "finished so far.")] = False,
    restore: Annotated[Path | None, typer.Option(help="First put back the finished runs saved in this folder "
                                                      "(by --save-results), e.g. benchmarks/results.")] = None,
    save_results: Annotated[Path | None, typer.Option(help="At the end, save the finished runs' results (no "
                                                           "checkpoints) into this folder, to commit or copy.")] = None,
    root: Root = RUNS,
) -> None:
    """Compare credit methods: each (task, arm, seed) an ordinary run under runs/<suite>/, resumable (restart the
    same command after a stop or a kill; across machines or sessions with --save-results and --restore), then
    report.md/report.json/figures with IQM and bootstrap 95% CIs."""
    from agents.bench.report import build, markdown
    from agents.bench.runner import parse_shard, run_suite
    from agents.bench.suite import load_suite

    if smoke and suite != DEFAULT_SUITE:
        raise ValueError("--smoke is the smoke suite: give --smoke or --suite, not both")
    config = load_suite("smoke" if smoke else suite)
    suite_dir = Path(root) / config.name
    failed = {}
    if restore is not None:
        from agents.bench import archive

        typer.echo(f"restored {archive.restore(restore, suite_dir)} finished runs from {restore}")
    if diagnostic:
        from agents.bench.diagnostic import run_diagnostic

        run_diagnostic(config, Path(root), tasks=_names(tasks), arms=_names(arms))
    elif report_only:
        if not (suite_dir / "suite.yaml").is_file():
            raise FileNotFoundError(f"{suite_dir}/: no suite has run here yet (run without --report-only first)")
    else:
        failed = run_suite(config, Path(root), seeds=seeds, shard=parse_shard(shard), workers=workers,
                           tasks=_names(tasks), arms=_names(arms)).failed
    print_report(markdown(build(suite_dir)), suite_dir)
    if save_results is not None:
        from agents.bench import archive

        typer.echo(f"saved {archive.save(suite_dir, save_results)} finished runs' results to {save_results}")
    if failed:
        typer.secho(f"{len(failed)} run(s) failed: " + ", ".join(failed), fg=typer.colors.RED, err=True)
        sys.exit(1)


def _names(text: str | None) -> list[str] | None:
    return [n.strip() for n in text.split(",") if n.strip()] if text else None


def register(app: typer.Typer) -> None:
    app.add_typer(bench_app, name="bench")
