"""The agent commands (agents/cli.py): runs list/show/plot/compare, train flag plumbing, one-line errors.

They run on an app holding only this part's commands, so a half-built env family elsewhere cannot break them.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest
import typer
from pydantic import Field
from typer.testing import CliRunner

from agents.cli import register
from agents.runs import RunDir
from credo.config import Config

cli = typer.Typer()
register(cli)


class _Cfg(Config):
    env: str = Field("credo/MiniHack-Room-5x5-v0", description="env id")
    credit: str = Field("outcome", description="credit spec")


def _make_run(root: Path, name: str, success: list[float], credit: str = "outcome") -> RunDir:
    run = RunDir.create(name, _Cfg(credit=credit), root=root)
    for it, s in enumerate(success):
        run.log_metrics(it, {"success": s, "env_steps": 512 * (it + 1), "episode_length": 50 * (1 - s) + 4,
                             "wall_time": 10.0 * (it + 1)})
    run.close()
    return run


@pytest.fixture()
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("COLUMNS", "200")  # rich tables fold cells at the default 80 columns
    return CliRunner()


def test_runs_list_show(tmp_path: Path, runner: CliRunner) -> None:
    _make_run(tmp_path, "a", [0.2, 0.5, 0.9])
    _make_run(tmp_path, "b", [0.1, 0.3], credit="spa")
    res = runner.invoke(cli, ["runs", "list", "--root", str(tmp_path)])
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    row_a = next(line for line in lines if "│ a " in line)
    assert "MiniHack-Room-5x5-v0" in row_a and "outcome" in row_a and "1536" in row_a and "0.900" in row_a
    assert "30 s" in row_a  # wall time: the last logged wall_time
    assert any("│ b " in line and "spa" in line for line in lines)

    res = runner.invoke(cli, ["runs", "show", "a", "--root", str(tmp_path)])
    assert res.exit_code == 0, res.output
    success_row = next(line for line in res.output.splitlines() if "│ success " in line)
    assert "0.900" in success_row
    length_row = next(line for line in res.output.splitlines() if "│ episode_length " in line)
    assert "9.000" in length_row  # best length is the minimum: 50*(1-0.9)+4


def test_runs_plot_and_compare_write_png(tmp_path: Path, runner: CliRunner) -> None:
    _make_run(tmp_path, "a", [0.2, 0.5, 0.9])
    _make_run(tmp_path, "b", [0.1, 0.3])
    out = tmp_path / "curves.png"
    res = runner.invoke(cli, ["runs", "plot", "a", "b", "--metric", "success", "--metric", "episode_length",
                              "--out", str(out), "--root", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    res = runner.invoke(cli, ["runs", "compare", "a", "b", "--root", str(tmp_path)])
    assert res.exit_code == 0, res.output
    row_b = next(line for line in res.output.splitlines() if "│ b " in line)
    assert "0.300" in row_b and "1024" in row_b


def test_runs_errors_are_one_line(tmp_path: Path, runner: CliRunner) -> None:
    _make_run(tmp_path, "a", [0.2])
    res = runner.invoke(cli, ["runs", "show", "nope", "--root", str(tmp_path)])
    assert res.exit_code == 2 and "not a run folder" in res.output and "Traceback" not in res.output
    res = runner.invoke(cli, ["runs", "plot", "a", "--metric", "kl", "--root", str(tmp_path)])
    assert res.exit_code == 2 and "no run logged kl" in res.output and "success" in res.output


def test_runs_list_empty(tmp_path: Path, runner: CliRunner) -> None:
    res = runner.invoke(cli, ["runs", "list", "--root", str(tmp_path / "none")])
    assert res.exit_code == 0 and "no runs" in res.output


def test_train_turns_flags_into_overrides(monkeypatch: pytest.MonkeyPatch, runner: CliRunner) -> None:
    seen = {}

    def fake_train_from_cli(config_path, overrides, resume):
        seen.update(config_path=config_path, overrides=overrides, resume=resume)

    # the command's only job is the flag plumbing: swap the trainer module for a recorder
    monkeypatch.setitem(sys.modules, "agents.trainer", types.SimpleNamespace(train_from_cli=fake_train_from_cli))
    res = runner.invoke(cli, ["train", "--env", "credo/X-v0", "--model", "tiny", "--credit", "spa:1.0",
                              "--name", "r1", "seed=3", "policy.lora=true"])
    assert res.exit_code == 0, res.output
    assert seen == {"config_path": None, "resume": None,
                    "overrides": ["env=credo/X-v0", "policy.model=tiny", "credit=spa:1.0", "name=r1", "seed=3",
                                  "policy.lora=true"]}


def test_collect_rejects_unknown_policy(tmp_path: Path, runner: CliRunner) -> None:
    res = runner.invoke(cli, ["collect", "--policy", "human", "--env", "credo/X-v0", "--out",
                              str(tmp_path / "d.jsonl")])
    assert res.exit_code == 2 and "only 'expert'" in res.output
    assert not (tmp_path / "d.jsonl").exists()


def test_collect_passes_env_kwargs(tmp_path: Path, runner: CliRunner) -> None:
    from agents.demos import read_demos

    out = tmp_path / "d.jsonl"
    res = runner.invoke(cli, ["collect", "--env", "credo/WebShop-v0", "--episodes", "2", "--out", str(out),
                              "--env-kwargs", '{"item_names": true}'])
    assert res.exit_code == 0, res.output
    clicks = [s.action for d in read_demos(out) for s in d.steps if s.action.startswith("click[item - ")]
    assert len(clicks) == 2
    for bad, why in (("{item_names", "not JSON"), ("[1]", "expected a JSON object")):
        res = runner.invoke(cli, ["collect", "--env", "credo/WebShop-v0", "--out", str(out), "--env-kwargs", bad])
        assert res.exit_code == 2 and why in res.output, res.output


def test_train_config_errors_are_one_line(monkeypatch: pytest.MonkeyPatch, runner: CliRunner) -> None:
    from credo.config import ConfigError

    def bad(config_path, overrides, resume):
        raise ConfigError("config: lr: Input should be a valid number, got 'fast'")

    monkeypatch.setitem(sys.modules, "agents.trainer", types.SimpleNamespace(train_from_cli=bad))
    res = runner.invoke(cli, ["train", "lr=fast"])
    assert res.exit_code == 2 and "error: config: lr" in res.output and "Traceback" not in res.output


def test_best_follows_each_metrics_direction(tmp_path: Path, runner: CliRunner) -> None:
    """Issue 18.13: `runs show`'s best column took the maximum of timings and KL."""
    from agents.plots import best_value

    rows = [{"iteration": 1, "success": 0.2, "episode_length": 9.0, "kl": 0.5, "act_seconds": 4.0, "policy_loss": 0.3,
             "tokens_per_s": 10.0, "spa/heldout_mse": 0.4, "spa/fit_time": 2.0},
            {"iteration": 2, "success": 0.9, "episode_length": 3.0, "kl": 0.01, "act_seconds": 9.0, "policy_loss": 0.1,
             "tokens_per_s": 30.0, "spa/heldout_mse": 0.2, "spa/fit_time": 5.0}]
    best = {k: best_value(rows, k) for k in rows[0] if k != "iteration"}
    assert best == {"success": 0.9, "episode_length": 3.0, "kl": None, "act_seconds": None, "policy_loss": 0.1,
                    "tokens_per_s": 30.0, "spa/heldout_mse": 0.2, "spa/fit_time": None}
    run = _make_run(tmp_path, "a", [0.2, 0.9])
    run.log_metrics(3, {"kl": 0.5, "act_seconds": 7.0})
    run.close()
    out = runner.invoke(cli, ["runs", "show", "a", "--root", str(tmp_path)]).output
    assert next(line for line in out.splitlines() if "│ kl " in line).rstrip("│ ").endswith("-")
