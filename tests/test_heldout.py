"""Held-out evaluation inside training (agents/heldout.py): the schedule, eval.jsonl, and resume without losing or
duplicating a point."""

from __future__ import annotations

import json
import shutil

import pytest

from agents.heldout import EVAL_FILE
from agents.runs import RunDir
from agents.trainer import Trainer
from tests._agent_helpers import line_config, line_policy


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("credo_cache")
    line_policy(path)
    return path


def _rows(run_path):
    return [json.loads(line) for line in (run_path / EVAL_FILE).read_text().splitlines()]


def _points(rows):
    return [(r["point"], r["iteration"]) for r in rows if r["policy"] == "model" and not r["greedy"]]


def _eval_config(tmp_path, **fields):
    return line_config(tmp_path, name="ev", total_env_steps=192, eval_episodes=6, eval_every_env_steps=64, **fields)


def test_points_at_start_every_n_steps_and_end(cache_dir, tmp_path):
    summary = Trainer(_eval_config(tmp_path, eval_greedy="final")).train()
    rows = _rows(tmp_path / "ev")
    model = [r for r in rows if r["policy"] == "model"]
    assert [(r["point"], r["greedy"], r["final"]) for r in model] == [
        (0, False, False), (1, False, False), (2, False, False), (3, False, True), (3, True, True)]
    assert [r["iteration"] for r in model[:4]] == [0, 1, 2, 3] and model[0]["env_steps"] == 0
    assert all(r["episodes"] == 6 and 0 <= r["success"] <= 1 and len(r["success_ci"]) == 2 for r in rows)
    assert [r["policy"] for r in rows].count("random") == 1
    assert set(summary["eval"]) == {"random", "before", "after", "after_greedy"}
    assert (tmp_path / "ev" / "summary.json").is_file()


def test_a_run_too_short_to_fill_its_window_still_finishes(cache_dir, tmp_path):
    """No learning curve to plot (the success window never filled): the run still ends with its summary."""
    summary = Trainer(line_config(tmp_path, name="short", num_envs=16, steps_per_iter=1, total_env_steps=1,
                                  eval_episodes=2)).train()
    assert summary["window_episodes"] < 16 and set(summary["eval"]) >= {"before", "after"}
    assert (tmp_path / "short" / "summary.json").is_file()


def test_evaluation_does_not_change_training(cache_dir, tmp_path):
    """The evaluation runs under its own seed and restores the training RNG: metrics match a run without it."""
    Trainer(_eval_config(tmp_path / "a", eval_greedy="all")).train()
    Trainer(line_config(tmp_path / "b", name="ev", total_env_steps=192)).train()
    losses = [[r["policy_loss"] for r in RunDir.open(p / "ev").read_metrics()] for p in (tmp_path / "a", tmp_path / "b")]
    assert losses[0] == losses[1]


def test_resume_neither_loses_nor_duplicates_a_point(cache_dir, tmp_path):
    Trainer(_eval_config(tmp_path)).train()
    run = RunDir.open(tmp_path / "ev")
    full = _rows(run.path)
    # a crash after iteration 2's checkpoint, before its evaluation, with a stray row of a lost iteration 3
    assert run.latest_checkpoint().name == "iter_3" and (run.path / "checkpoints" / "iter_2").is_dir()
    shutil.rmtree(run.path / "checkpoints" / "iter_3")
    (run.path / "checkpoints" / "latest").write_text("iter_2\n")
    kept = [r for r in full if r["iteration"] < 2] + [{**full[-1], "iteration": 3}]
    (run.path / EVAL_FILE).write_text("".join(json.dumps(r) + "\n" for r in kept))
    (run.path / "summary.json").unlink()

    Trainer(_eval_config(tmp_path), RunDir.open(run.path)).train()
    rows = _rows(run.path)
    assert _points(rows) == [(0, 0), (1, 1), (2, 2), (3, 3)]  # point 2 evaluated again, once; row of lost it 3 gone
    # a point is a function of the saved policy (after the checkpoint, training differs: episodes in flight restart)
    assert [r["success"] for r in rows[:3]] == [r["success"] for r in full[:3]]
