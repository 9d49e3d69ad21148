"""The `credo` command line: one typer app composed from each part's own commands.

Each part of credo owns its commands next to its code (`envs/cli.py`, `agents/cli.py`,
`llm_judges/cli.py`, `viewer/cli.py`; `credo/config_docs.py` lists every config field); this file only puts them together and
turns config errors into one line.
Sub-command modules import heavy libraries (torch, transformers, nle) inside their commands, so
`credo --help` and `credo envs list` stay fast.
"""

from __future__ import annotations

import sys

import typer

from agents.bench.cli import register as register_bench_commands
from agents.cli import register as register_agent_commands
from agents.cli import runs_app
from credo.config_docs import register as register_config_command
from envs.cli import register as register_env_commands
from llm_judges.cli import register as register_judge_commands
from viewer.cli import register as register_viewer_commands

cli = typer.Typer(
    name="credo",
    help="Train LLM agents with RL in multi-turn, sparse-reward environments, with pluggable credit assignment.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
register_env_commands(cli)
register_agent_commands(cli)
register_viewer_commands(runs_app)  # credo runs serve
register_bench_commands(cli)
register_judge_commands(cli)
register_config_command(cli)


def app() -> None:
    """Console-script entry point: run the CLI, reporting config and input errors in one line."""
    from credo.config import ConfigError

    try:
        cli()
    except (ConfigError, KeyError, FileNotFoundError) as err:
        msg = err.args[0] if isinstance(err, KeyError) and err.args else str(err)
        typer.secho(f"error: {msg}", fg=typer.colors.RED, err=True)
        sys.exit(2)


if __name__ == "__main__":
    app()
