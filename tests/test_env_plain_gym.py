"""Issue 18.7: any Gymnasium id whose env speaks the text contract works with every credo command, without
`envs.register` (its card is derived from the env); an id whose env is not a text env gets a one-line error
saying what is missing. (The plug-in path, `gymnasium.register` from a `credo.envs` entry point, is tested in
test_env_adapter_plugin.py.)"""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import pytest
from typer.testing import CliRunner

import envs
from agents.evaluate import EvalConfig, evaluate_from_config
from agents.runs import RunDir
from agents.trainer import Trainer
from credo.cli import cli
from tests._agent_helpers import LineEnv, line_config, line_policy
from tests.test_env_check_cli import DialEnv

PLAIN_ID = "plain-test/Line-v0"
DIAL_ID = "plain-test/Dial-v0"
NOT_TEXT_ID = "plain-test/CountDown-v0"


class CountDownEnv(gym.Env):
    """An ordinary Gymnasium env: numbers in, numbers out."""

    observation_space = gym.spaces.Discrete(5)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return 4, {}

    def step(self, action):
        return 3, 0.0, False, False, {}


gym.register(PLAIN_ID, entry_point=LineEnv)  # plain Gymnasium, no envs.register
gym.register(DIAL_ID, entry_point=DialEnv)  # passes every contract check
gym.register(NOT_TEXT_ID, entry_point=CountDownEnv)
runner = CliRunner()


def test_a_plain_gymnasium_text_env_gets_a_derived_card():
    card = envs.card(PLAIN_ID)
    assert card.family == "test" and card.instruction_example == "reach the goal"
    assert card.action_mode == "admissible" and "derived" in card.tags
    env = envs.make(PLAIN_ID)
    obs, info = env.reset(seed=0)
    assert obs.startswith("goal") and info["admissible_actions"] == ["east", "west", "wait"]


def test_check_play_train_and_eval_take_a_plain_gymnasium_id(tmp_path: Path):
    checked = runner.invoke(cli, ["envs", "check", DIAL_ID, "--workers", "1"], terminal_width=200)
    assert checked.exit_code == 0 and "1/1 envs pass" in checked.output, checked.output
    played = runner.invoke(cli, ["play", DIAL_ID, "--seed", "0"], input="1\nquit\n", terminal_width=200)
    assert played.exit_code == 0 and "step 1" in played.output, played.output
    line_policy(tmp_path / "cache")
    summary = Trainer(line_config(tmp_path, name="plain", env=PLAIN_ID, total_env_steps=64)).train()
    assert summary["env_steps"] >= 64 and RunDir.open(summary["run"]).config()["env"] == PLAIN_ID
    result, _ = evaluate_from_config(EvalConfig(target=summary["run"], episodes=4, num_envs=2), root=tmp_path,
                                     show_progress=False)
    assert result.env == PLAIN_ID and result.episodes == 4


@pytest.mark.parametrize("argv", [["envs", "check", NOT_TEXT_ID], ["play", NOT_TEXT_ID],
                                  ["train", "--env", NOT_TEXT_ID], ["eval", "--policy", "random", "--env", NOT_TEXT_ID]])
def test_a_gymnasium_id_that_is_not_a_text_env_is_a_one_line_error(argv, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = runner.invoke(cli, argv, terminal_width=400)
    text = out.output.strip()
    assert out.exit_code in (1, 2) and "Traceback" not in text, text
    line = next(x for x in text.splitlines() if NOT_TEXT_ID in x)
    assert "not a credo text env" in line and "observation space is a Discrete" in line
    assert "action space is a Discrete" in line and "envs/README.md" in line
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_an_unknown_id_still_suggests_close_matches():
    with pytest.raises(KeyError, match="did you mean plain-test/Line-v0"):
        envs.card("plain-test/Lin-v0")
