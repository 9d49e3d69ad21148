"""`credo eval`: confidence intervals, the random baseline, loading a policy from a run, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

import tests._agent_helpers  # noqa: F401  (registers credo-test/Line-v0)
from agents.cli import register
from agents.evaluate import EvalConfig, evaluate_from_config, mean_interval, summarize, wilson_interval
from agents.runs import RunDir
from credo.trajectory import Episode, Step

ENV = "credo-test/Line-v0"


def test_wilson_and_bootstrap_intervals() -> None:
    lo, hi = wilson_interval(8, 10)
    assert lo == pytest.approx(0.4902, abs=1e-4) and hi == pytest.approx(0.9433, abs=1e-4)
    lo, hi = wilson_interval(0, 20)  # the interval stays inside [0, 1] and is not degenerate at 0
    assert lo == 0.0 and hi == pytest.approx(0.1611, abs=1e-4)
    lo, hi = mean_interval([1, 2, 3, 4, 5])  # the t-interval would be [1.04, 4.96]; the bootstrap is narrower
    assert 1.0 < lo < 2.6 < 3.0 < 3.4 < hi < 5.0 and mean_interval([1, 2, 3, 4, 5]) == (lo, hi)  # seeded
    assert mean_interval([2.0, 2.0]) == (2.0, 2.0)


@pytest.mark.parametrize("scores", [[0.0] * 19 + [1.0], [1.0] * 18 + [0.0, 0.2], [0.0] * 10 + [1.0] * 10])
def test_a_bounded_score_gets_an_interval_inside_its_range(scores) -> None:
    """Issue 18.13: the t-interval of a [0, 1] score read [-0.280, 1.080]."""
    lo, hi = mean_interval(scores)
    mean = sum(scores) / len(scores)
    assert 0.0 <= lo <= mean <= hi <= 1.0 and hi - lo > 0.01


def _episode(k: int, success: bool, length: int, eff: float | None = None) -> Episode:
    steps = [Step(f"e{k}", f"g{k}", i, "o", [], [], "east", 0.0, reward=float(success and i == length - 1))
             for i in range(length)]
    metrics = {"start_index": float(k), **({"efficiency": eff} if eff is not None else {})}
    return Episode(f"e{k}", f"g{k}", ENV, k, "reach", steps, success=success, score=float(success), metrics=metrics)


def test_summarize_counts_efficiency_on_successes_only() -> None:
    eps = [_episode(0, True, 2, 1.0), _episode(1, True, 4, 0.5), _episode(2, False, 10)]
    res = summarize(eps, env=ENV, policy="x", greedy=False, seed=0, wall_s=1.0)
    assert res.success == pytest.approx(2 / 3) and res.mean_length == pytest.approx(16 / 3)
    assert res.efficiency == pytest.approx(0.75) and res.score == pytest.approx(2 / 3)
    assert [e["length"] for e in res.per_episode] == [2, 4, 10]
    with pytest.raises(ValueError, match="no episodes"):
        summarize([], env=ENV, policy="x", greedy=False, seed=0, wall_s=0.0)


def test_random_baseline_is_reproducible_and_written(tmp_path: Path) -> None:
    cfg = EvalConfig(policy="random", env=ENV, episodes=30, seed=5, num_envs=8)
    res, path = evaluate_from_config(cfg, root=tmp_path, show_progress=False)
    assert res.episodes == 30 and res.policy == "random"
    assert 0.0 < res.success < 1.0  # a 20-step cap on a 6-cell line: random walks often, not always, arrive
    assert res.success_ci[0] <= res.success <= res.success_ci[1]
    assert res.efficiency is not None and 0 < res.efficiency <= 1
    saved = json.loads(path.read_text())
    assert path.parent.parent == tmp_path and path.name.startswith("eval-")
    assert saved["success"] == res.success and saved["config"]["policy"] == "random"
    again, _ = evaluate_from_config(cfg.model_copy(update={"name": "again"}), root=tmp_path, show_progress=False)
    assert again.per_episode == res.per_episode


def test_eval_loads_the_policy_of_a_run(tmp_path: Path) -> None:
    import torch

    from agents.policy import Policy, PolicyConfig

    torch.set_num_threads(2)
    torch.manual_seed(0)
    policy = Policy.from_config(PolicyConfig(), [ENV])
    run = RunDir.create("trained", EvalConfig(env=ENV), root=tmp_path)  # any config naming the env
    run.save_checkpoint(3, lambda d: policy.save(d / "policy"))
    res, path = evaluate_from_config(EvalConfig(target="trained", episodes=6, greedy=True, num_envs=3,
                                                torch_threads=1), root=tmp_path, show_progress=False)
    assert torch.get_num_threads() == 1  # tiny model: threads only add contention on a shared machine
    assert path.parent == run.path and res.env == ENV and res.episodes == 6 and res.greedy
    assert res.policy == "trained"


def test_eval_temperature_overrides_the_policys_own(tmp_path: Path) -> None:
    """`temperature=`: sampling near 0 plays what greedy plays; the policy's own temperature (1) does not."""
    import torch

    from agents.policy import Policy, PolicyConfig

    torch.manual_seed(0)
    Policy.from_config(PolicyConfig(), [ENV]).save(tmp_path / "untrained")
    def play(**fields):
        res, path = evaluate_from_config(EvalConfig(target=str(tmp_path / "untrained"), env=ENV, episodes=8,
                                                    seed=3, num_envs=4, max_episode_steps=12, **fields),
                                         root=tmp_path, show_progress=False)
        return [(e["length"], e["return"]) for e in res.to_dict()["per_episode"]], json.loads(path.read_text())
    greedy, _ = play(greedy=True)
    cold, record = play(temperature=1e-4)
    warm, _ = play()
    assert cold == greedy and warm != greedy
    assert record["config"]["temperature"] == 1e-4


def test_cli_eval_random_and_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    app = typer.Typer()
    register(app)
    runner = CliRunner()
    res = runner.invoke(app, ["eval", "--policy", "random", "--env", ENV, "--episodes", "12", "--root",
                              str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert "success" in res.output and "Wilson" in res.output and "wrote" in res.output
    res = runner.invoke(app, ["eval", "policy=random", "episodes=4", "--root", str(tmp_path)])
    assert res.exit_code == 2 and "--env is required" in res.output
    res = runner.invoke(app, ["eval", "--policy", "random", "--env", "credo-test/Nope-v0", "--root",
                              str(tmp_path)])
    assert res.exit_code == 2 and "unknown env id" in res.output and "Traceback" not in res.output
    res = runner.invoke(app, ["eval", "missing-run", "--env", ENV, "--root", str(tmp_path)])
    assert res.exit_code == 2 and "'missing-run' is not a run" in res.output


def test_the_table_says_what_efficiency_averages_over(capsys) -> None:
    """Issue 18.13: efficiency read 1.000 next to success 0.05, with nothing saying it averages over successes."""
    from agents.evaluate import print_result

    eps = [_episode(k, k == 0, 3 if k == 0 else 10, 1.0 if k == 0 else None) for k in range(20)]
    print_result(summarize(eps, env=ENV, policy="x", greedy=True, seed=0, wall_s=1.0))
    row = next(line for line in capsys.readouterr().out.splitlines() if "efficiency" in line)
    assert "1.000" in row and "over 1 successful episode" in row


def test_a_missing_run_is_said_before_asking_for_an_env(tmp_path: Path) -> None:
    app = typer.Typer()
    register(app)
    res = CliRunner().invoke(app, ["eval", "does-not-exist", "--root", str(tmp_path)], terminal_width=200)
    assert res.exit_code == 2 and "'does-not-exist' is not a run" in res.output and "--env" not in res.output


def test_evaluations_of_one_bare_model_share_one_folder(tmp_path: Path) -> None:
    """Issue 18.13: each `credo eval tiny` made a new runs/eval-<timestamp>/ folder."""
    import time

    paths = []
    for seed in (1, 2):
        _, path = evaluate_from_config(EvalConfig(policy="random", env=ENV, episodes=3, seed=seed, num_envs=3),
                                       root=tmp_path, show_progress=False)
        paths.append(path)
        time.sleep(1.1)  # results are named by the second
    assert [p.parent.name for p in paths] == ["eval-random", "eval-random"] and paths[0] != paths[1]
    assert [p.name for p in tmp_path.iterdir()] == ["eval-random"]
