"""`check_env_id` catches each kind of contract breach; `credo envs list|check` and `credo play` work end to end."""

from __future__ import annotations

import random
import string
from typing import Any

import pytest
from typer.testing import CliRunner

import envs
from credo.cli import cli
from envs.check import check_env_id
from envs.cli import parse_seeds
from envs.core import TextEnv, action_key

BUGS = ("none", "raises_on_invalid", "no_instruction", "not_deterministic", "state_not_json", "uncounted_invalid",
        "admissible_invalid", "loose_parsing", "case_sensitive")


class DialEnv(TextEnv):
    """Turn a dial to the seed's target number; `bug` plants one contract breach for the checker to find."""

    family = "test"

    def __init__(self, bug: str = "none", max_steps: int = 10, render_mode: str | None = None) -> None:
        super().__init__(render_mode)
        self.bug, self.max_steps = bug, max_steps
        self.value = self.target = self.t = 0

    def _info(self, valid: bool) -> dict[str, Any]:
        state: dict[str, Any] = {"value": self.value, "target": self.target}
        if self.bug == "state_not_json":
            state["seen"] = {self.value}
        return {"instruction": "" if self.bug == "no_instruction" else f"Turn the dial to {self.target}.",
                "admissible_actions": ["up", "down"], "valid_action": valid, "success": self.value == self.target,
                "score": float(self.value == self.target), "state": state}

    def _reset(self, seed: int | None, options: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        self.value, self.t = 0, 0
        self.target = int(self.np_random.integers(1, 4))
        return f"The dial shows {self.value}.", self._info(True)

    def _step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        action = action if self.bug == "case_sensitive" else action_key(action) or ""
        if self.bug == "loose_parsing":  # how NLE's parser read "[north]" or "north!!" as north
            action = action.strip(string.punctuation)
        valid = action in ("up", "down")
        if self.bug == "admissible_invalid" and action == "down":
            valid = False
        if not valid and self.bug == "raises_on_invalid":
            raise ValueError(f"bad action {action!r}")
        if valid or self.bug != "uncounted_invalid":
            self.t += 1
        if valid:
            self.value += 1 if action == "up" else -1
        if self.bug == "not_deterministic":
            self.value += random.choice([0, 10])
        won = self.value == self.target
        obs = f"The dial shows {self.value}." if valid else f"Your action {action!r} was not understood."
        return obs, float(won), won, self.t >= self.max_steps and not won, self._info(valid)


for _bug in BUGS:
    envs.register(f"credo-test/Dial-{_bug}-v0", entry_point="tests.test_env_check_cli:DialEnv", family="test",
                  instruction_example="Turn the dial to 2.", kwargs={"bug": _bug})

EXPECTED = {
    "raises_on_invalid": "raised ValueError",
    "no_instruction": "instruction'] is empty",
    "not_deterministic": "not deterministic",
    "state_not_json": "not JSON-serialisable",
    "uncounted_invalid": "not counted as steps",
    "admissible_invalid": "admissible action 'down' gave valid_action=False",
    "loose_parsing": "action '[up]' gave valid_action=True; only 'up'",
    "case_sensitive": "case and surrounding whitespace must not matter",
}


def test_a_correct_env_passes():
    assert check_env_id("credo-test/Dial-none-v0") == []


@pytest.mark.parametrize("bug", sorted(EXPECTED))
def test_each_breach_is_reported(bug):
    problems = check_env_id(f"credo-test/Dial-{bug}-v0")
    assert any(EXPECTED[bug] in p for p in problems), problems


def test_unknown_id_is_a_problem_not_an_exception():
    assert "unknown env id" in check_env_id("credo-test/Dail-none-v0")[0]


runner = CliRunner()


def test_envs_list_filters_by_family():
    out = runner.invoke(cli, ["envs", "list", "--family", "test"], terminal_width=200)
    assert out.exit_code == 0
    assert "credo-test/Dial-none-v0" in out.output and "textworld" not in out.output.lower()


def test_envs_check_exit_codes_and_report():
    ok = runner.invoke(cli, ["envs", "check", "credo-test/Dial-none-v0", "--workers", "1"], terminal_width=200)
    assert ok.exit_code == 0 and "1/1 envs pass" in ok.output
    bad = runner.invoke(cli, ["envs", "check", "credo-test/Dial-none-v0", "credo-test/Dial-state_not_json-v0",
                              "--workers", "1"], terminal_width=200)
    assert bad.exit_code == 1
    assert "FAIL credo-test/Dial-state_not_json-v0" in bad.output and "1/2 envs pass" in bad.output
    unknown = runner.invoke(cli, ["envs", "check", "credo-test/Nope-v0"])
    assert unknown.exit_code == 2 and "unknown env id" in unknown.output


def test_play_accepts_numbers_and_text_and_summarises():
    target = envs.make("credo-test/Dial-none-v0").reset(seed=5)[1]["state"]["target"]
    keys = "xyzzy\n" + "1\n" * (target - 1) + "up\n"  # "1" is the first admissible action: "up"
    out = runner.invoke(cli, ["play", "credo-test/Dial-none-v0", "--seed", "5"], input=keys, terminal_width=200)
    assert out.exit_code == 0, out.output
    assert f"Turn the dial to {target}" in out.output and "not a valid action" in out.output
    summary = out.output.split("episode")[-1]
    assert str(target + 1) in summary and "True" in summary and "terminated" in summary


def test_play_quits_on_request_and_on_end_of_input():
    out = runner.invoke(cli, ["play", "credo-test/Dial-none-v0", "--seed", "1"], input="up\nquit\n")
    assert out.exit_code == 0 and "quit" in out.output.split("episode")[-1]
    out = runner.invoke(cli, ["play", "credo-test/Dial-none-v0"], input="")
    assert out.exit_code == 0 and "episode" in out.output


@pytest.mark.skipif("credo/MiniHack-Room-5x5-v0" not in envs.cards(), reason="MiniHack family not available")
def test_play_minihack_room_from_piped_input():
    out = runner.invoke(cli, ["play", "credo/MiniHack-Room-5x5-v0", "--seed", "0"], input="1\nquit\n",
                        terminal_width=200)
    assert out.exit_code == 0, out.output
    assert "step 1" in out.output and "quit" in out.output.split("episode")[-1]


def test_parse_seeds():
    assert parse_seeds("0-3") == [0, 1, 2, 3]
    assert parse_seeds("5, 7-8") == [5, 7, 8]
    for bad in ("a-b", "3-1", "-2"):
        with pytest.raises(ValueError, match="--seeds"):
            parse_seeds(bad)
    out = runner.invoke(cli, ["envs", "pregenerate", "credo-test/Dial-none-v0", "--seeds", "0-1"])
    assert out.exit_code == 2 and "not a TextWorld env" in out.output
