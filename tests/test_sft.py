"""Demonstrations and SFT: expert collection (oracle and walkthrough), the JSONL schema, and a warm start
that turns the untrained tiny model into a near-perfect policy on the line env."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

import envs
from agents.cli import register
from agents.demos import Demo, DemoStep, collect_expert, read_demos, write_demos
from tests._agent_helpers import LineEnv

ORACLE_ENV = "credo-test/LineOracle-v0"
WALK_ENV = "credo-test/LineWalkthrough-v0"


class LineOracleEnv(LineEnv):
    """The line env with an oracle, as the shop offers one: the next optimal action for the current state."""

    def expert_action(self) -> str:
        return "east" if self.goal > self.pos else "west"


class LineWalkthroughEnv(LineEnv):
    """The line env with a walkthrough at reset, as TextWorld offers one."""

    def _reset(self, seed: int | None, options: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        obs, info = super()._reset(seed, options)
        d = self.goal - self.pos
        info["walkthrough"] = ["east" if d > 0 else "west"] * abs(d)
        return obs, info


envs.register(ORACLE_ENV, entry_point=LineOracleEnv, family="test", instruction_example="reach the goal")
envs.register(WALK_ENV, entry_point=LineWalkthroughEnv, family="test", instruction_example="reach the goal")


@pytest.mark.parametrize("env_id", [ORACLE_ENV, WALK_ENV])
def test_collect_expert_plays_optimally(env_id: str) -> None:
    demos = collect_expert(env_id, 6, seed=3)
    assert len(demos) == 6 and all(d.success and d.score == 1.0 for d in demos)
    for d in demos:
        env = envs.make(env_id)
        _, info = env.reset(seed=d.seed)
        assert len(d.steps) == info["optimal_steps"]  # the expert walks straight to the goal
        assert all(s.admissible_actions == ["east", "west", "wait"] for s in d.steps)
        assert d.steps[0].observation.startswith("goal ") and d.instruction == "reach the goal"


def test_expert_running_out_of_moves_is_a_failed_episode() -> None:
    from agents.demos import expert_episode

    env = envs.make(WALK_ENV)
    env.unwrapped._reset = lambda seed, options: ("goal 2 east", {  # a walkthrough one command short
        "instruction": "reach", "admissible_actions": ["east", "west", "wait"], "walkthrough": ["east"]})
    env.unwrapped.pos, env.unwrapped.goal = 0, 2
    demo = expert_episode(env, WALK_ENV, seed=0)
    assert [s.action for s in demo.steps] == ["east"] and not demo.success


def test_collect_without_expert_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="no expert"):
        collect_expert("credo-test/Line-v0", 1)


def test_demos_roundtrip_and_bad_lines(tmp_path: Path) -> None:
    demo = Demo(env_id=ORACLE_ENV, seed=1, instruction="i", success=True, score=1.0,
                steps=[DemoStep(observation="o", admissible_actions=["a", "b"], action="a")])
    path = write_demos(tmp_path / "d.jsonl", [demo, demo])
    assert read_demos(path) == [demo, demo]
    with open(path, "a") as fh:  # another tool's line: extra keys are fine, a missing action is not
        fh.write('{"env_id": "x", "steps": [{"observation": "o", "action": "a"}], "extra": 1}\n')
        fh.write('{"env_id": "x", "steps": [{"observation": "o"}]}\n')
    with pytest.raises(ValueError, match=r"d\.jsonl:4: steps\.0\.action: Field required"):
        read_demos(path)
    (tmp_path / "bad.jsonl").write_text("not json\n")
    with pytest.raises(ValueError, match=r"bad\.jsonl:1:"):
        read_demos(tmp_path / "bad.jsonl")


def test_sft_warm_start_then_eval_beats_random(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from agents.evaluate import EvalConfig, evaluate_from_config
    from agents.policy import Policy, PolicyConfig
    from agents.sft import SFTConfig, run_sft

    torch.set_num_threads(1)  # tiny model: threads only add contention on a shared machine

    monkeypatch.setenv("COLUMNS", "200")
    app = typer.Typer()
    register(app)
    demos = tmp_path / "demos.jsonl"
    res = CliRunner().invoke(app, ["collect", "--policy", "expert", "--env", ORACLE_ENV, "--episodes", "60",
                                   "--out", str(demos)])
    assert res.exit_code == 0, res.output
    assert len(read_demos(demos)) == 60

    cfg = SFTConfig.build({"demos": str(demos), "name": "warm", "epochs": 6, "batch_size": 32})
    run, summary = run_sft(cfg, root=tmp_path)
    rows = run.read_metrics()
    assert len(rows) == 6 and rows[-1]["loss"] < rows[0]["loss"] / 4
    assert summary["accuracy"] > 0.95 and summary["skipped steps"] == 0

    # the saved folder is what `credo train policy.model=<folder>` loads
    folder = run.path / "policy"
    assert Policy.from_config(PolicyConfig(model=str(folder))).config.mode == "choose"
    after, _ = evaluate_from_config(EvalConfig(target="warm", env=ORACLE_ENV, episodes=40, greedy=True, seed=7),
                                    root=tmp_path, show_progress=False)
    rand, _ = evaluate_from_config(EvalConfig(policy="random", env=ORACLE_ENV, episodes=40, seed=7),
                                   root=tmp_path, show_progress=False)
    assert after.success >= 0.95 and after.efficiency is not None and after.efficiency >= 0.95
    assert after.mean_length < rand.mean_length / 2


def test_sft_errors_are_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = typer.Typer()
    register(app)
    runner = CliRunner()
    res = runner.invoke(app, ["sft", "--demos", str(tmp_path / "none.jsonl"), "--root", str(tmp_path)])
    assert res.exit_code == 2 and "no such demonstrations file" in res.output
    failed = Demo(env_id=ORACLE_ENV, steps=[DemoStep(observation="o", action="east")], success=False)
    write_demos(tmp_path / "f.jsonl", [failed])
    res = runner.invoke(app, ["sft", "--demos", str(tmp_path / "f.jsonl"), "--root", str(tmp_path)])
    assert res.exit_code == 2 and "no successful demonstrations" in res.output
    res = runner.invoke(app, ["sft", "--root", str(tmp_path), "epochs=0", f"demos={tmp_path / 'f.jsonl'}"])
    assert res.exit_code == 2 and "epochs" in res.output and "Traceback" not in res.output


def test_sft_token_loss_trains_the_action_tokens(tmp_path: Path) -> None:
    import torch

    from agents.sft import SFTConfig, run_sft

    torch.set_num_threads(1)
    demos = write_demos(tmp_path / "d.jsonl", collect_expert(ORACLE_ENV, 20))
    run, summary = run_sft(SFTConfig.build({"demos": str(demos), "name": "tok", "epochs": 8, "loss": "tokens",
                                          "batch_size": 8}),
                           root=tmp_path)
    losses = [r["loss"] for r in run.read_metrics()]
    assert losses[-1] < losses[0] / 4 and summary["skipped steps"] == 0
    assert summary["accuracy"] > 0.9  # greedy decoding would write the expert's action
    assert (run.path / "policy" / "policy.yaml").is_file()


def test_demos_keep_their_env_kwargs_and_sft_builds_the_tiny_tokenizer_from_them(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A demo records the kwargs its env was made with; SFT's tiny model reads text from the env made so."""
    import yaml

    from agents.sft import SFTConfig, run_sft
    from agents.tiny_model import tiny_model_path

    monkeypatch.setenv("CREDO_CACHE", str(tmp_path / "cache"))
    demos = collect_expert(ORACLE_ENV, 3, env_kwargs={"size": 9})
    assert all(d.env_kwargs == {"size": 9} for d in demos)
    path = write_demos(tmp_path / "d.jsonl", demos)
    assert read_demos(path) == demos
    run, _ = run_sft(SFTConfig.build({"demos": str(path), "name": "kw", "epochs": 1}), root=tmp_path)
    base = yaml.safe_load((run.path / "policy" / "policy.yaml").read_text())["base"]
    assert base == str(tiny_model_path([ORACLE_ENV], {"size": 9})) != str(tiny_model_path([ORACLE_ENV]))


def _weights(folder: Path) -> dict[str, Any]:
    from agents.policy import Policy

    return {k: v.clone() for k, v in Policy.load(folder).model.state_dict().items()}


def test_sft_killed_and_resumed_ends_with_the_uninterrupted_weights(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A run killed mid-epoch and resumed (`credo sft --resume`) trains on the same batches in the same order with
    the same optimizer state: its final weights equal an uninterrupted run's. Held-out metrics are logged per epoch,
    and a finished run says how to train further."""
    import torch

    import agents.sft as sft

    torch.set_num_threads(1)
    demos = write_demos(tmp_path / "d.jsonl", collect_expert(ORACLE_ENV, 12, seed=0))
    held = write_demos(tmp_path / "h.jsonl", collect_expert(ORACLE_ENV, 6, seed=500))
    base = {"demos": str(demos), "val_demos": str(held), "epochs": 2, "batch_size": 8, "checkpoint_minutes": 1e-9}
    straight, _ = sft.run_sft(sft.SFTConfig.build({**base, "name": "straight"}), root=tmp_path)

    calls, real = [0], sft._batch_loss

    def dies_on_the_ninth_batch(*args: Any) -> Any:
        calls[0] += 1
        if calls[0] == 9:  # the 3rd batch of epoch 2 (an epoch: 4 training + 2 held-out batches), mid-epoch
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(sft, "_batch_loss", dies_on_the_ninth_batch)
    with pytest.raises(KeyboardInterrupt):
        sft.run_sft(sft.SFTConfig.build({**base, "name": "killed"}), root=tmp_path)
    monkeypatch.setattr(sft, "_batch_loss", real)
    killed = tmp_path / "killed"
    assert not (killed / "policy").exists() and len(sft.RunDir(killed).read_metrics()) == 1

    app = typer.Typer()
    register(app)
    res = CliRunner().invoke(app, ["sft", "--resume", str(killed), "--root", str(tmp_path)])
    assert res.exit_code == 0, res.output
    a, b = _weights(straight.path / "policy"), _weights(killed / "policy")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    rows = sft.RunDir(killed).read_metrics()
    assert [r["epoch"] for r in rows] == [1, 2] and all(0 <= r["val_accuracy"] <= 1 for r in rows)
    assert rows == [{**r, "time": rows[i]["time"], "wall_time": rows[i]["wall_time"]}
                    for i, r in enumerate(straight.read_metrics())]

    res = CliRunner().invoke(app, ["sft", "--resume", str(killed), "--root", str(tmp_path)])
    assert res.exit_code == 2 and "epochs=3" in res.output and "Traceback" not in res.output
    res = CliRunner().invoke(app, ["sft", "--resume", str(killed), "--root", str(tmp_path), "epochs=3"])
    assert res.exit_code == 0, res.output
    assert [r["epoch"] for r in sft.RunDir(killed).read_metrics()] == [1, 2, 3]


def test_sft_with_the_head_also_trains_the_action_tokens_by_default(tmp_path: Path) -> None:
    """With the head, the default SFT adds the token loss (token_loss_coef=None -> 1), so the body learns to
    write the expert action's tokens; with token_loss_coef=0 only the head's candidate softmax is trained."""
    import torch

    from agents.policy import Policy
    from agents.prompts import PromptConfig
    from agents.sft import SFTConfig, demo_steps, run_sft

    torch.set_num_threads(1)
    demos = write_demos(tmp_path / "d.jsonl", collect_expert(ORACLE_ENV, 16))
    mean_token_lp = {}
    for coef in (None, 0.0):
        run, summary = run_sft(SFTConfig.build({"demos": str(demos), "name": f"c{coef}", "epochs": 4, "batch_size": 8,
                                                "token_loss_coef": coef}), root=tmp_path)
        assert summary["accuracy"] > 0.9  # the choice is learned either way
        policy = Policy.load(run.path / "policy")
        assert policy.head
        steps, _ = demo_steps(read_demos(demos), policy, PromptConfig(), "choice")
        with torch.no_grad():
            mean_token_lp[coef] = float(torch.cat(policy.token_logprobs(steps)).mean())
    assert mean_token_lp[None] > max(-1.0, mean_token_lp[0.0] + 2), mean_token_lp
