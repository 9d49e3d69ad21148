"""`credo bench credit`: suites, resumable runner (kill -9 and restart), statistics and the report."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

import envs
from agents.bench import stats
from agents.bench.report import build
from agents.bench.runner import ERROR_FILE, cell_lock, parse_shard, prepare, run_suite
from agents.bench.suite import CELL_FILE, SuiteConfig, cells, config_difference, load_suite, shipped_suites
from agents.runs import RunDir
from credo.config import ConfigError
from tests._agent_helpers import ENV_ID, line_policy

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("credo_cache")
    line_policy(path)  # the tiny model of the line env, built once for this module
    return path


def line_suite(**over) -> dict:
    """A suite on the line test env: 2 arms x 2 seeds, 3 iterations of 64 steps, 8 held-out episodes."""
    data = {
        "name": "line", "seeds": 2,
        "train": {"policy": {"model": "tiny"}, "advantage": "rloo", "group_size": 2, "num_envs": 4,
                  "steps_per_iter": 64, "max_episode_steps": 12, "total_env_steps": 192, "max_minutes": None,
                  "learner": {"minibatch_size": 64, "micro_batch_size": 32}, "eval_episodes": 8,
                  "eval_every_env_steps": 64, "eval_greedy": "final", "keep_checkpoints": 1},
        "tasks": {"line": {"env": ENV_ID}},
        "arms": {"outcome": {"credit": "outcome"}, "gigpo": {"credit": "gigpo"}},
    }
    data.update(over)
    return data


def quiet():
    from rich.console import Console

    return Console(file=io.StringIO(), width=80)


def test_shipped_suites_resolve_to_valid_run_configs(tmp_path):
    assert {"credit", "smoke"} <= set(shipped_suites())
    for name in shipped_suites():
        suite = load_suite(name)
        every = cells(suite, tmp_path)
        assert len({c.name for c in every}) == len(every)
        assert all(c.config.eval_episodes >= 16 for c in every if c.config is not None)
        # a module option this install lacks fails that cell only, naming the option
        assert all("credit_config." in c.error for c in every if c.config is None)
    default = load_suite("credit")
    keyroom = [c for c in cells(default, tmp_path) if c.task == "keyroom"]
    assert len({c.arm for c in keyroom}) == len(default.arms)  # every arm on the delayed-credit task
    assert all(len(default.task_seeds(t)) >= 5 for t in default.tasks)
    for task in default.tasks:  # every task's env takes its kwargs, for training and for evaluation
        config = next(c.config for c in cells(default, tmp_path, tasks=[task]) if c.config is not None)
        for kwargs in (config.env_kwargs, {**config.env_kwargs, **config.eval_env_kwargs}):
            envs.make(config.env, **kwargs).close()
    budgets = {(c.task, c.config.total_env_steps, c.config.max_episode_steps, c.config.eval_episodes)
               for c in cells(default, tmp_path) if c.config is not None}
    assert len(budgets) == len(default.tasks)  # every arm of a task has the same budget
    for name in ("credit", "smoke"):  # their runs resume across code changes: they keep the score they began with
        assert {c.config.policy.candidate_score for c in cells(load_suite(name), tmp_path) if c.config} == {"sum"}


@pytest.mark.parametrize(("change", "message"), [
    ({"tasks": {"t": {"env": ENV_ID, "arms": ["nope"]}}}, "unknown arm 'nope'"),
    ({"arms": {"outcome": {"credit": "outcome", "lr": 1}}}, "arms.outcome.lr: unknown key"),
    ({"arms": {"a b": {"credit": "outcome"}}}, "names are letters"),
    ({"train": {"learner": {"lr": -1}}}, "learner.lr"),
])
def test_a_bad_suite_is_a_one_line_error(tmp_path, change, message):
    with pytest.raises(ConfigError, match=message) as err:
        cells(SuiteConfig.build(line_suite(**change), source="suite"), tmp_path)
    assert "\n" not in str(err.value)


def test_a_run_made_with_another_config_is_an_error(cache_dir, tmp_path):
    cell = cells(SuiteConfig.build(line_suite()), tmp_path)[0]
    prepare(cell)
    assert json.loads((tmp_path / "line" / cell.name / CELL_FILE).read_text()) == {
        "suite": "line", "task": "line", "arm": "outcome", "seed": 0}
    changed = line_suite()
    changed["train"]["learner"]["lr"] = 0.5
    prepare(cells(SuiteConfig.build(changed), tmp_path)[0])  # it never trained: made again with the new config
    assert RunDir.open(tmp_path / "line" / cell.name).config()["learner"]["lr"] == 0.5
    (tmp_path / "line" / cell.name / "metrics.jsonl").write_text('{"iteration": 1}\n')  # now it has trained
    with pytest.raises(ConfigError, match="learner.lr: 0.5 vs 0.001"):
        prepare(cell)


def test_shards_split_the_cells_deterministically(tmp_path):
    suite = SuiteConfig.build(line_suite(seeds=3))
    names = [c.name for c in cells(suite, tmp_path)]
    parts = [[n for k, n in enumerate(names) if k % 3 == i - 1] for i in (1, 2, 3)]
    assert sorted(sum(parts, [])) == sorted(names) and all(parts)
    assert names[:2] == ["line-outcome-s0", "line-gigpo-s0"]  # seed-major: a partial suite has whole seeds
    assert [c.name for c in cells(suite, tmp_path, tasks=["line"], arms=["gigpo"])] == [
        "line-gigpo-s0", "line-gigpo-s1", "line-gigpo-s2"]
    with pytest.raises(ConfigError, match="--arms: 'spa' is not in suite line"):
        cells(suite, tmp_path, arms=["spa"])
    assert parse_shard("2/3") == (2, 3)
    for bad in ("0/2", "3/2", "x"):
        with pytest.raises(ConfigError, match="--shard"):
            parse_shard(bad)


def test_iqm_and_bootstrap_intervals():
    assert stats.iqm([0, 1, 2, 3, 100, 5, 6, 7]) == pytest.approx(np.mean([2, 3, 5, 6]))
    far, ci = stats.difference_ci([0.8, 0.9, 0.85, 0.95, 0.9], [0.1, 0.2, 0.15, 0.1, 0.05])
    assert far == pytest.approx(0.9 - 0.1333, abs=1e-3) and stats.excludes_zero(ci)
    near, ci = stats.difference_ci([0.5, 0.9, 0.1, 0.6, 0.4], [0.4, 0.8, 0.2, 0.5, 0.6])
    assert not stats.excludes_zero(ci) and ci[0] < near < ci[1]
    assert stats.iqm_ci([0.3]) == (0.3, None) and stats.iqm_ci([]) == (None, None)
    point, ci = stats.stratified_iqm_ci([[0.1, 0.2, 0.3], [0.7, 0.8, 0.9]])
    assert point == pytest.approx(0.5) and ci[0] < 0.5 < ci[1]


def test_failed_and_missing_file_cells_are_reported_and_the_rest_runs(cache_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("CREDO_CACHE", str(cache_dir))
    data = line_suite(seeds=1)
    data["arms"].update({"bad-rubric": {"credit": "oni", "credit_config": {"oni": {"rubric": "oni-cls-nope"}}},
                         "no-code": {"credit": "lare", "credit_config": {"lare": {"code_file": "missing.py"}}},
                         "bad-key": {"credit": "gigpo", "credit_config": {"gigpo": {"nope": 1}}}})
    result = run_suite(SuiteConfig.build(data), tmp_path, console=quiet())
    assert result.finished == 2 and set(result.failed) == {"line-bad-rubric-s0", "line-no-code-s0", "line-bad-key-s0"}
    assert "credit_config.gigpo: nope: unknown key" in result.failed["line-bad-key-s0"]
    assert "oni-cls-nope" in result.failed["line-bad-rubric-s0"]
    assert result.failed["line-no-code-s0"] == "credit_config.lare.code_file: no such file missing.py"
    report = build(tmp_path / "line")
    assert set(report["runs"]["failed"]) == set(result.failed) and "## Failed runs" in (
        tmp_path / "line" / "report.md").read_text()


def _wait(predicate, proc, timeout=300):
    deadline = time.time() + timeout
    while not predicate():
        assert proc.poll() is None, proc.stderr.read().decode()[-3000:]
        assert time.time() < deadline, "timed out"
        time.sleep(0.2)


def test_killed_suite_restarts_and_ends_with_every_run_once(cache_dir, tmp_path):
    suite_file = tmp_path / "line.yaml"
    data = line_suite()
    data["train"]["total_env_steps"] = 640  # long enough to be killed inside a run
    suite_file.write_text(yaml.safe_dump(data))
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(REPO)!r})
        import tests._agent_helpers  # registers the line env
        from credo.cli import app
        sys.argv = ["credo", "bench", "credit", "--suite", {str(suite_file)!r}, "--root", {str(tmp_path)!r},
                    "--workers", "2"]
        app()
    """)
    env = {**os.environ, "CREDO_CACHE": str(cache_dir), "PYTHONPATH": str(REPO)}
    root = tmp_path / "line"

    def start():
        return subprocess.Popen([sys.executable, "-c", script], env=env, cwd=REPO, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)

    def finished():
        return sorted(p.parent.name for p in root.glob("*/summary.json"))

    def checkpointed_in_flight():
        return [p for p in root.glob("*/checkpoints/latest") if not (p.parent.parent / "summary.json").exists()]

    proc = start()
    try:
        _wait(lambda: finished() and checkpointed_in_flight(), proc)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    done_before = finished()
    kept = {n: (root / n / "eval.jsonl").read_text() for n in done_before}
    for path in root.glob("*/"):  # the cells' processes died with the suite: nobody holds a lock
        deadline = time.time() + 30
        while True:
            try:
                with cell_lock(path):
                    break
            except RuntimeError:
                assert time.time() < deadline, f"{path.name} still locked after the suite was killed"
                time.sleep(0.2)

    proc = start()
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err.decode()[-3000:]
    assert finished() == sorted(["line-outcome-s0", "line-gigpo-s0", "line-outcome-s1", "line-gigpo-s1"])
    assert {n: (root / n / "eval.jsonl").read_text() for n in done_before} == kept  # finished runs untouched
    for name in finished():
        rows = [json.loads(x) for x in (root / name / "eval.jsonl").read_text().splitlines()]
        evaluated = [(r["point"], r["iteration"]) for r in rows if r["policy"] == "model" and not r["greedy"]]
        first_reached = {0: 0}  # point -> the first iteration whose env steps reached it (64 per point)
        for m in RunDir.open(root / name).read_metrics():
            first_reached.setdefault(int(m["env_steps"]) // 64, m["iteration"])
        assert evaluated == sorted(first_reached.items()), name  # none lost, none twice, each when reached
        assert not (root / name / ERROR_FILE).exists()
    report = json.loads((root / "report.json").read_text())
    assert all(a["n"] == 2 for a in report["tasks"]["line"]["arms"].values())

    again = subprocess.run([sys.executable, "-c", script], env=env, cwd=REPO, capture_output=True, timeout=300)
    assert again.returncode == 0 and b"4 finished, 0 to run" in again.stdout
    report2 = json.loads((root / "report.json").read_text())
    assert {**report2, "generated": ""} == {**report, "generated": ""}  # nothing left to run: the same report


def test_smoke_suite_writes_a_well_formed_report(tmp_path, monkeypatch):
    from credo.cli import cli

    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["bench", "credit", "--smoke", "--root", str(tmp_path)])
    assert result.exit_code == 0, result.output
    root = tmp_path / "bench-smoke"
    report = json.loads((root / "report.json").read_text())
    arms = report["tasks"]["room5"]["arms"]
    assert set(arms) == {"outcome", "gigpo"} and all(a["n"] == 2 for a in arms.values())
    for key in ("auc", "final_success", "final_success_greedy", "final_length"):
        est = arms["gigpo"]["metrics"][key]
        assert est["iqm"] is not None and len(est["ci"]) == 2 and est["ci"][0] <= est["iqm"] <= est["ci"][1]
    assert "auc" in arms["gigpo"]["vs_outcome"] and "auc" not in arms["outcome"]["vs_outcome"]
    assert {"suite.yaml", "report.md", "bars.png", "curves.png"} <= {p.name for p in root.iterdir()}
    assert "| arm | n | success AUC |" in (root / "report.md").read_text()
    assert "Suite `bench-smoke`" in result.output
    compared = CliRunner().invoke(cli, ["runs", "compare", "bench-smoke", "--root", str(tmp_path)])
    assert compared.exit_code == 0 and "| gigpo | 2 |" in compared.output  # a suite folder: its report
    # Another session: the saved results (no checkpoints) restored under a fresh runs folder are finished cells.
    saved = CliRunner().invoke(cli, ["bench", "credit", "--smoke", "--report-only", "--root", str(tmp_path),
                                     "--save-results", str(tmp_path / "kept")])
    assert saved.exit_code == 0 and "saved 4 finished runs" in saved.output
    assert not list((tmp_path / "kept").rglob("checkpoints"))
    again = CliRunner().invoke(cli, ["bench", "credit", "--smoke", "--root", str(tmp_path / "fresh"),
                                     "--restore", str(tmp_path / "kept")])
    assert again.exit_code == 0, again.output
    assert "restored 4 finished runs" in again.output and "4 finished, 0 to run" in again.output
    restored = json.loads((tmp_path / "fresh" / "bench-smoke" / "report.json").read_text())
    assert restored["tasks"]["room5"]["arms"]["gigpo"]["metrics"] == arms["gigpo"]["metrics"]


def test_a_run_made_before_a_config_field_existed_still_matches_its_cell():
    """A suite resumed after credo gained a field: the run's config lacks the key and keeps its run; any key the
    run does have must still match."""
    old = {"env": "e", "policy": {"model": "tiny"}, "learner": {"lr": 0.001}}
    new = {"env": "e", "policy": {"model": "tiny", "candidate_score": "sum"}, "learner": {"lr": 0.001},
           "max_staleness": 1}
    assert config_difference(old, new) is None
    assert config_difference(old, {**new, "learner": {"lr": 0.01}}) == "learner.lr: 0.001 vs 0.01"


def test_a_trained_run_made_before_candidate_score_matches_a_suite_that_pins_sum_only(tmp_path):
    """Runs made before `policy.candidate_score` scored with the summed log-likelihood: a suite pinning `sum` keeps
    them; one left at the default (`auto`: the head for the tiny model) refuses them instead of switching."""
    pinned = line_suite()
    pinned["train"]["policy"]["candidate_score"] = "sum"
    cell = cells(SuiteConfig.build(pinned), tmp_path)[0]
    path = prepare(cell)
    data = yaml.safe_load((path / "config.yaml").read_text())
    del data["policy"]["candidate_score"]  # as the code before the field wrote it
    (path / "config.yaml").write_text(yaml.safe_dump(data))
    (path / "metrics.jsonl").write_text('{"iteration": 1}\n')  # it has trained
    assert prepare(cell) == path
    with pytest.raises(ConfigError, match="policy.candidate_score: 'sum' vs 'auto'"):
        prepare(cells(SuiteConfig.build(line_suite()), tmp_path)[0])
