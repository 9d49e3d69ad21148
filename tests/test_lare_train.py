"""`credo train --credit lare` end to end on the test line env, with recorded LLM replies (no LLM, no network)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

import tests._agent_helpers  # noqa: F401 -- registers credo-test/Line-v0
from credo.cli import cli

FIXTURES = Path(__file__).parent / "fixtures" / "lare"


def test_credo_train_with_lare_and_recorded_replies(tmp_path: Path) -> None:
    args = ["train", "--env", "credo-test/Line-v0", "--credit", "lare", "--name", "lare",
            f"runs_root={tmp_path}", "num_envs=2", "steps_per_iter=12", "total_env_steps=24",
            "max_episode_steps=6", "torch_threads=1", "progress=false",
            f"credit_config.lare.replies={FIXTURES / 'line.json'}", "credit_config.lare.n_candidates=1",
            f"credit_config.lare.cache_dir={tmp_path / 'cache'}", "credit_config.lare.updates_per_assign=10"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    run = tmp_path / "lare"
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert len(metrics) >= 2 and all(m["lare/active"] == 1.0 and m["lare/n_factors"] == 2 for m in metrics)
    (saved,) = (run / "credit" / "lare").iterdir()
    assert (saved / "code.py").read_text().startswith("def evaluate(state):")
    episode = json.loads((run / "episodes" / "iter_1.jsonl").read_text().splitlines()[0])
    assert all("lare" in step["step_rewards"] for step in episode["steps"])


def test_credo_train_with_lare_and_no_llm_fails_at_start_up(tmp_path: Path) -> None:
    args = ["train", "--env", "credo-test/Line-v0", "--credit", "lare", "--name", "nollm", f"runs_root={tmp_path}",
            "num_envs=2", "total_env_steps=8", "progress=false", f"credit_config.lare.cache_dir={tmp_path / 'c'}"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code != 0
    assert "lare: no LLM" in str(result.exception) + result.output

