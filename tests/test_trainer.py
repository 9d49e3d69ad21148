"""The Trainer: reproducible runs, credit plumbing, checkpoints, and resume after `kill -9`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import credit.base
from agents import advantages as adv_lib
from agents.credit_step import assign_credit
from agents.runs import RunDir
from agents.trainer import TRAINER_STATE, StartOrderWindow, Trainer, train_from_cli
from credit.base import CreditModule, CreditOutput
from credo.config import ConfigError
from credo.trajectory import Episode, Step
from tests._agent_helpers import CRASH_ONCE_ID, line_config, line_policy

REPO = Path(__file__).resolve().parents[1]
TIMING = ("seconds", "per_s", "wall_time", "time", "credit_share")


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("credo_cache")
    line_policy(path)  # build the tiny model once for every run of this module
    return path


def _deterministic(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if not any(t in k for t in TIMING)} for r in rows]


def test_same_seed_same_metrics(cache_dir, tmp_path):
    runs = []
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        summary = Trainer(line_config(tmp_path, name=name, seed=seed)).train()
        runs.append(RunDir.open(summary["run"]).read_metrics())
    assert len(runs[0]) == 2 and runs[0][-1]["env_steps"] >= 128
    assert _deterministic(runs[0]) == _deterministic(runs[1])
    assert _deterministic(runs[0]) != _deterministic(runs[2])
    for key in ("success", "episode_length", "kl", "entropy", "tokens_per_s", "env_steps_per_s", "credit_share",
                "batch_success", "outcome/seconds"):
        assert key in runs[0][-1], key


def test_run_folder_holds_config_episodes_and_a_loadable_checkpoint(cache_dir, tmp_path):
    from agents.policy import Policy

    summary = Trainer(line_config(tmp_path, name="r", log_episodes=2)).train()
    run = RunDir.open(summary["run"])
    assert run.config()["env"] == "credo-test/Line-v0"
    eps = run.read_episodes()
    assert len(eps) == 2 and eps[0]["steps"][0]["action_text"] in ("east", "west", "wait")
    ckpt = run.latest_checkpoint()
    assert ckpt is not None and ckpt.name == f"iter_{summary['iterations']}"
    state = torch.load(ckpt / TRAINER_STATE, weights_only=False)
    assert {"learner", "rng", "window", "credit", "iteration", "env_steps"} <= set(state)
    assert Policy.load(ckpt / "policy").config.mode == "choose"


class _Constant(CreditModule):
    """A credit module paying 1.0 on a step that moves east: the trainer must record and use it."""

    def assign(self, episodes: list[Episode]) -> CreditOutput:
        return CreditOutput([np.array([float(s.action_text == "east") for s in e.steps]) for e in episodes],
                            metrics={"calls": 1.0})


def test_credit_modules_are_recorded_on_steps_and_prefixed_in_metrics(cache_dir, tmp_path, monkeypatch):
    monkeypatch.setitem(credit.base._REGISTRY, "h5_const", _Constant)
    trainer = Trainer(line_config(tmp_path, name="cr", credit="outcome,h5_const:0.5", total_env_steps=64))
    episodes = trainer.rollout.collect(16)
    signals, metrics = assign_credit(trainer.modules, episodes)
    assert metrics["h5_const/calls"] == 1.0 and "outcome/seconds" in metrics
    assert [(s.name, s.rule, s.weight) for s in signals] == [("h5_const", "intrinsic", 0.5)]
    for e in episodes:
        for s in e.steps:
            assert s.step_rewards == {"outcome": 0.0, "h5_const": float(s.action_text == "east")}
    rewards, dense = adv_lib.estimated_rewards(episodes, signals)
    assert dense and all(np.allclose(r, [s.reward + 0.5 * (s.action_text == "east") for s in e.steps])
                         for e, r in zip(episodes, rewards, strict=True))
    adv = trainer.advantages(episodes, signals).flat
    base = trainer.advantages(episodes, []).flat
    assert adv.shape == base.shape and not np.allclose(adv, base)
    trainer.rollout.close()
    with pytest.raises(ConfigError, match="credit_config.spa"):
        line_config(tmp_path, credit="outcome", credit_config={"spa": {}})


def test_the_credit_spec_weight_is_the_only_step_advantage_weight(cache_dir, tmp_path):
    """`--credit gigpo:0.5`: A = A^E + 0.5 * A^S, A^S the module's output as it is."""
    trainer = Trainer(line_config(tmp_path, name="gw", credit="gigpo:0.5", advantage="grpo", group_size=4,
                                  total_env_steps=64))
    episodes = trainer.rollout.collect(32)
    signals, _ = assign_credit(trainer.modules, episodes)
    a_s = np.concatenate(signals[0].values)
    assert np.any(a_s != 0)
    got = trainer.advantages(episodes, signals).flat
    np.testing.assert_allclose(got, adv_lib.compute(episodes, [], "grpo").flat + 0.5 * a_s)
    trainer.rollout.close()


def test_module_requirements_are_settled_at_config_time(tmp_path):
    config = line_config(tmp_path, credit="gigpo")
    assert (config.advantage, config.group_size, config.grpo_std_norm) == ("grpo", 8, False)
    assert any("gigpo: chose advantage=grpo group_size=8" in n for n in config.credit_notes)
    mine = line_config(tmp_path, credit="gigpo", group_size=4, advantage="rloo")
    assert (mine.advantage, mine.group_size, mine.credit_notes) == ("rloo", 4, [])
    with pytest.raises(ConfigError, match="credit oprl compares the trajectories of a group: set group_size >= 2"):
        line_config(tmp_path, credit="oprl", group_size=1)


def test_config_errors_are_one_line(tmp_path):
    with pytest.raises(ConfigError, match="group_size >= 2"):
        line_config(tmp_path, advantage="grpo")
    with pytest.raises(ConfigError, match="stop criterion"):
        line_config(tmp_path, total_env_steps=None)
    with pytest.raises(ConfigError, match="learner.lr"):
        line_config(tmp_path, learner={"lr": -1})


def _episode(k: int, success: bool, length: int) -> Episode:
    e = Episode(f"e{k}", "g", "env", 0, "", success=success, metrics={"start_index": float(k)})
    e.steps = [Step(e.episode_id, "g", t, "", [], [], "a", 0.0) for t in range(length)]
    return e


def test_start_order_window_waits_for_earlier_episodes():
    window = StartOrderWindow(3)
    ep = _episode

    window.add(ep(1, True, 2))  # finished first, but episode 0 is still running
    assert window.stats() == {}
    window.add(ep(0, False, 9))
    assert window.stats()["success"] == 0.5 and window.stats()["episode_length"] == 5.5
    for k in (2, 3, 4):
        window.add(ep(k, True, 1))
    assert window.stats()["success"] == 1.0 and window.next_index == 5


def test_start_order_window_reports_once_min_fill_episodes_finished():
    window = StartOrderWindow(10, min_fill=3)
    for k, length in enumerate((2, 9)):
        window.add(_episode(k, k == 0, length))
    assert window.stats() == {}  # two episodes: too few for a curve point
    assert window.stats(partial=True)["success"] == 0.5  # a run's final summary still reports them
    window.add(_episode(2, True, 1))
    assert window.stats()["episode_length"] == 4.0


def _latest_iteration(run_path: Path) -> int:
    try:
        return RunDir.checkpoint_iteration(Path((run_path / "checkpoints" / "latest").read_text().strip()))
    except (FileNotFoundError, ValueError):
        return 0


def test_resume_after_kill_minus_9(cache_dir, tmp_path):
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(REPO)!r})
        from tests._agent_helpers import line_config
        from agents.trainer import Trainer
        Trainer(line_config({str(tmp_path)!r}, name="killed", total_env_steps=10**7)).train()
    """)
    env = {**os.environ, "CREDO_CACHE": str(cache_dir)}
    proc = subprocess.Popen([sys.executable, "-c", script], env=env, cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    run_path = tmp_path / "killed"
    deadline = time.time() + 300
    try:
        while _latest_iteration(run_path) < 3:  # a checkpoint counts once `latest` names it
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            assert time.time() < deadline, "no checkpoint within the time limit"
            time.sleep(0.2)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    run = RunDir.open(run_path)
    ckpt = run.latest_checkpoint()
    k = RunDir.checkpoint_iteration(ckpt)
    state = torch.load(ckpt / TRAINER_STATE, weights_only=False)
    logged = run.read_metrics()
    assert k >= 3 and len(logged) >= k

    resumed = Trainer(line_config(tmp_path, name="killed", total_env_steps=state["env_steps"] + 64), run)
    assert resumed.iteration == k and resumed.env_steps == state["env_steps"]
    assert torch.equal(torch.get_rng_state(), state["rng"]["torch"])  # RNG continues where the checkpoint was
    assert np.random.get_state()[1].tolist() == state["rng"]["numpy"][1].tolist()
    assert resumed.window.next_index == state["window"]["next_index"]
    assert len(run.read_metrics()) == k  # rows logged after the checkpoint are dropped
    resumed.rollout.close()

    summary = train_from_cli(None, [f"total_env_steps={state['env_steps'] + 64}"], str(run_path))
    rows = run.read_metrics()
    its = [r["iteration"] for r in rows]
    assert its == list(range(1, len(rows) + 1)) and len(rows) > k
    assert _deterministic(rows[:k]) == _deterministic(logged[:k])
    assert rows[k]["env_steps"] > state["env_steps"] and summary["iterations"] == len(rows)
    assert run.config()["total_env_steps"] == 10**7  # the run keeps its own config file


@pytest.mark.parametrize("fields", [
    {"advantage": "gae"},
    {"advantage": "grpo", "group_size": 2},
    {"advantage": "rloo", "group_size": 2},
    {"advantage": "reinforce++", "group_size": 2, "learner": {"kl_coef": 0.05}},
    {"advantage": "rloo", "group_size": 2, "policy": {"mode": "generate", "max_new_tokens": 4}},
], ids=["gae", "grpo", "rloo", "reinforce++-kl", "generate-rloo"])
def test_every_estimator_and_mode_trains_end_to_end(cache_dir, tmp_path, fields):
    summary = Trainer(line_config(tmp_path, total_env_steps=64, **fields)).train()
    row = RunDir.open(summary["run"]).read_metrics()[-1]
    assert summary["iterations"] == 1 and np.isfinite(row["policy_loss"]) and row["batch_steps"] >= 64
    if fields["advantage"] == "gae":
        assert np.isfinite(row["value_loss"])
    if "learner" in fields:
        assert row["kl_ref"] >= 0


def test_env_worker_restarts_are_a_cumulative_metric(cache_dir, tmp_path):
    """Issue 18.8: a crashed env worker was restarted silently; now the trainer logs `env_worker_restarts`
    (the pool's `restarts`), kept across a resume."""
    crash = tmp_path / "crash-now"
    crash.touch()
    fields = {"env": CRASH_ONCE_ID, "workers": 1, "env_kwargs": {"crash_file": str(crash)}, "total_env_steps": 64}
    summary = Trainer(line_config(tmp_path, name="crashy", **fields)).train()
    assert not crash.exists()
    assert [r["env_worker_restarts"] for r in RunDir.open(summary["run"]).read_metrics()] == [1.0]
    train_from_cli(None, ["total_env_steps=128"], summary["run"])
    assert [r["env_worker_restarts"] for r in RunDir.open(summary["run"]).read_metrics()] == [1.0, 1.0]


def test_a_run_that_fails_to_set_up_leaves_no_folder_and_a_taken_name_is_said(cache_dir, tmp_path, monkeypatch):
    """Issue 18.11: failed runs left empty folders, and the next run of the same name silently became NAME-2."""
    from typer.testing import CliRunner

    from credo.cli import cli

    monkeypatch.setenv("CREDO_CACHE", str(cache_dir))
    runner = CliRunner()
    base = ["train", "--env", "credo-test/Line-v0", "--name", "exp", f"runs_root={tmp_path}", "progress=false",
            "total_env_steps=64", "steps_per_iter=64", "num_envs=4", "torch_threads=1"]
    failed = runner.invoke(cli, [*base, f"policy.model={tmp_path / 'no-such-model'}"])
    assert failed.exit_code == 2 and "error:" in failed.output and "Traceback" not in failed.output
    assert not (tmp_path / "exp").exists()  # the folder made for the run is gone again
    ok = runner.invoke(cli, base)
    assert ok.exit_code == 0, ok.output
    again = runner.invoke(cli, base)
    assert again.exit_code == 2 and "run name 'exp' is taken" in again.output and "--resume" in again.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exp"]


def test_resuming_a_finished_run_says_its_budget_is_reached_and_how_to_extend_it(cache_dir, tmp_path, monkeypatch):
    """Issue 18.12: `credo train --resume` on a finished run exited 0 and reprinted the old summary."""
    from typer.testing import CliRunner

    from credo.cli import cli

    monkeypatch.setenv("CREDO_CACHE", str(cache_dir))
    summary = Trainer(line_config(tmp_path, name="done", total_env_steps=64)).train()
    steps = summary["env_steps"]
    out = CliRunner().invoke(cli, ["train", "--resume", summary["run"]], terminal_width=300)
    assert out.exit_code == 2 and "Traceback" not in out.output
    assert f"run done has reached its budget (total_env_steps=64; {steps} env steps" in out.output
    assert f"credo train --resume {summary['run']} total_env_steps=" in out.output
    extended = out.output.rsplit("total_env_steps=", 1)[1].split()[0]
    assert int(extended) > steps
    more = CliRunner().invoke(cli, ["train", "--resume", summary["run"], f"total_env_steps={extended}"])
    assert more.exit_code == 0, more.output  # the suggested override does extend it
    assert RunDir.open(summary["run"]).read_metrics()[-1]["env_steps"] >= int(extended)


def test_a_run_saved_before_candidate_score_existed_resumes_scoring_with_sum(cache_dir, tmp_path):
    """A run (and its checkpoint) written before `policy.candidate_score` existed scored with the summed
    log-likelihood; resumed under the default `auto` it must not switch to a fresh head (a credit suite's runs
    resume across code changes)."""
    import yaml

    from agents.backbones import score_head
    from agents.config import TrainConfig
    from agents.policy import POLICY_FILE

    summary = Trainer(line_config(tmp_path, name="old", total_env_steps=64,
                                  policy={"candidate_score": "sum"})).train()
    run = RunDir.open(summary["run"])
    for path, key in ((run.path / "config.yaml", "policy"), (run.latest_checkpoint() / "policy" / POLICY_FILE,
                                                             "config")):
        data = yaml.safe_load(path.read_text())
        del data[key]["candidate_score"]  # as the code before the field wrote it
        path.write_text(yaml.safe_dump(data))
    assert run.config()["policy"]["candidate_score"] == "sum"
    resumed = Trainer(TrainConfig.build({**run.config(), "total_env_steps": 128}), run)  # as the bench runner
    assert resumed.iteration == 1 and resumed.config.policy.candidate_score == "sum"
    assert resumed.policy.config.candidate_score == "sum" and score_head(resumed.policy.model) is None
    resumed.train()
    assert RunDir.open(run.path).config()["policy"]["candidate_score"] == "sum"
    assert yaml.safe_load((RunDir.open(run.path).latest_checkpoint() / "policy" / POLICY_FILE).read_text())[
        "config"]["candidate_score"] == "sum"
