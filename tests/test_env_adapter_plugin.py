"""The Gymnasium adapter, and a third-party plug-in package built and installed into a temporary folder."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import gymnasium as gym
import pytest

import envs
from envs.adapter import GymAdapter, NamedActions, register_adapted
from envs.check import check_env_id
from envs.vector import make_pool

LAKE_ID = "credo-test/FrozenLake-v0"
MOVES = NamedActions(["left", "down", "right", "up"])
WINNING_PATH = ["right", "right", "down", "down", "down", "right"]  # FrozenLake-v1's 4x4 map, not slippery


def lake_text(obs: Any, info: dict[str, Any]) -> str:
    row, col = divmod(int(obs), 4)
    return f"You stand on row {row}, column {col} of a 4x4 frozen lake; the goal is at row 3, column 3."


def lake_state(env: gym.Env, obs: Any, info: dict[str, Any]) -> dict[str, Any]:
    return {"row": int(obs) // 4, "col": int(obs) % 4}


register_adapted(LAKE_ID, "FrozenLake-v1", obs_to_text=lake_text, text_to_action=MOVES.to_action,
                 admissible_actions=MOVES.admissible, state=lake_state, family="test",
                 instruction="Walk to the goal without falling into a hole.", env_kwargs={"is_slippery": False})


def test_adapted_frozen_lake_is_won_by_the_winning_path():
    env = envs.make(LAKE_ID)
    obs, info = env.reset(seed=0)
    assert "row 0, column 0" in obs and info["admissible_actions"] == MOVES.names
    assert info["instruction"].startswith("Walk") and info["state"] == {"row": 0, "col": 0}
    for action in WINNING_PATH:
        obs, reward, terminated, truncated, info = env.step(action)
    assert terminated and reward == 1.0 and info["success"] and info["score"] == 1.0
    assert info["state"] == {"row": 3, "col": 3}


def test_adapter_invalid_action_keeps_state_and_counts():
    env = envs.make(LAKE_ID, max_steps=2)
    env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step("jump")
    assert not info["valid_action"] and "not understood" in obs and "row 0, column 0" in obs
    assert not truncated and info["state"] == {"row": 0, "col": 0}
    obs, _, _, truncated, info = env.step(7)  # a non-string
    assert not info["valid_action"] and truncated


def test_adapter_passes_the_contract_check_and_runs_in_a_subprocess_pool():
    assert check_env_id(LAKE_ID) == []
    with make_pool(LAKE_ID, 2, workers=1) as pool:  # the partial entry point travels to the worker
        pool.reset(0, seed=0)
        pool.reset(1, seed=0)
        out = pool.step({0: "right", 1: "up"})
        assert out[0][4]["state"] == {"row": 0, "col": 1} and out[1][4]["state"] == {"row": 0, "col": 0}


def test_named_actions_and_adapter_from_a_callable():
    assert MOVES.to_action(" UP ") == 3
    with pytest.raises(KeyError, match="Expected one of left, down, right, up"):
        MOVES.to_action("jump")
    with pytest.raises(ValueError, match="unique"):
        NamedActions(["a", "a"])
    cliff_moves = NamedActions(["up", "right", "down", "left"])  # CliffWalking's own action order
    env = GymAdapter(lambda: gym.make("CliffWalking-v1"), obs_to_text=lambda o, i: f"cell {o}",
                     text_to_action=cliff_moves.to_action, admissible_actions=cliff_moves.admissible,
                     instruction="cross")
    obs, info = env.reset(seed=1)
    assert obs == "cell 36" and info["state"] == {"steps": 0, "return": 0.0}
    obs, reward, *_ = env.step("up")
    assert obs == "cell 24" and reward == -1.0


PLUGIN = '''
"""A credo env plug-in living outside the credo repository."""
from typing import Any

import gymnasium

import envs
from envs.adapter import NamedActions, register_adapted
from envs.core import TextEnv, action_key

WORDS = ["apple", "pear", "plum", "fig"]
MOVES = NamedActions(["left", "down", "right", "up"])


class GuessEnv(TextEnv):
    family = "demo"
    state_schema = {"guesses": "words guessed so far"}

    def __init__(self, max_steps: int = 4, render_mode=None):
        super().__init__(render_mode)
        self.max_steps, self.secret, self.guesses, self.t = max_steps, "", [], 0

    def _info(self, valid: bool) -> dict[str, Any]:
        won = self.secret in self.guesses
        return {"instruction": "Guess the fruit.", "admissible_actions": list(WORDS), "valid_action": valid,
                "success": won, "score": float(won), "state": {"guesses": list(self.guesses)}}

    def _reset(self, seed, options):
        self.secret, self.guesses, self.t = WORDS[int(self.np_random.integers(len(WORDS)))], [], 0
        return "I think of a fruit.", self._info(True)

    def _step(self, action):
        self.t += 1  # every step counts, invalid ones too (the contract check verifies it)
        valid = action_key(action) in WORDS
        if valid:
            self.guesses.append(action_key(action))
        won = self.secret in self.guesses
        obs = "Yes!" if won else ("No." if valid else f"Your action {action!r} was not understood.")
        return obs, float(won), won, self.t >= self.max_steps and not won, self._info(valid)


class CrashEnv(GuessEnv):
    """Dies like a segfaulting native env the moment it is reset."""

    def _reset(self, seed, options):
        import os
        import signal

        os.kill(os.getpid(), signal.SIGKILL)


def lake_text(obs, info):
    return f"You are on tile {int(obs)} of 16."


def register():
    envs.register("demo/Guess-v0", entry_point="credo_demo_plugin:GuessEnv", family="demo",
                  instruction_example="Guess the fruit.")
    register_adapted("demo/FrozenLake-v0", "FrozenLake-v1", obs_to_text=lake_text, text_to_action=MOVES.to_action,
                     admissible_actions=MOVES.admissible, instruction="Reach the goal tile 15.", family="demo",
                     env_kwargs={"is_slippery": False})
    envs.register("demo-crash/Crash-v0", entry_point="credo_demo_plugin:CrashEnv", family="demo-crash")
    gymnasium.register("plain/Guess-v0", entry_point="credo_demo_plugin:GuessEnv")  # issue 18.7: no envs.register
'''

PYPROJECT = '''
[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "credo-demo-plugin"
version = "0.1.0"

[project.entry-points."credo.envs"]
demo = "credo_demo_plugin:register"

[tool.setuptools]
py-modules = ["credo_demo_plugin"]
'''


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo plug-in, pip-installed into a private folder (put on PYTHONPATH by the tests)."""
    src = tmp_path_factory.mktemp("plugin-src")
    (src / "pyproject.toml").write_text(PYPROJECT)
    (src / "credo_demo_plugin.py").write_text(textwrap.dedent(PLUGIN))
    target = tmp_path_factory.mktemp("plugin-site")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--target", str(target), str(src)], check=True, capture_output=True)
    return target


def _run(plugin_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(plugin_path), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, timeout=600)


def test_plugin_envs_are_listed_made_and_checked(plugin_path):
    listed = _run(plugin_path, "-m", "credo.cli", "envs", "list", "--family", "demo")
    assert listed.returncode == 0, listed.stderr
    assert "demo/Guess-v0" in listed.stdout and "demo/FrozenLake-v0" in listed.stdout
    assert "plain/Guess-v0" in listed.stdout and "Guess the fruit." in listed.stdout  # card derived from the env

    checked = _run(plugin_path, "-m", "credo.cli", "envs", "check", "all", "--family", "demo", "--workers", "2")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "3/3 envs pass" in checked.stdout

    crashed = _run(plugin_path, "-m", "credo.cli", "envs", "check", "demo-crash/Crash-v0", "demo/Guess-v0",
                   "--workers", "2")
    assert crashed.returncode == 1, crashed.stdout + crashed.stderr
    assert "FAIL demo-crash/Crash-v0" in crashed.stdout and "check process died" in crashed.stdout
    assert "1/2 envs pass" in crashed.stdout

    played = _run(plugin_path, "-c", (
        "import envs\n"
        "env = envs.make('demo/FrozenLake-v0'); env.reset(seed=0)\n"
        "for a in ['right', 'right', 'down', 'down', 'down', 'right']: out = env.step(a)\n"
        "print('WON' if out[4]['success'] else 'LOST', envs.card('demo/Guess-v0').family)\n"
        "from envs.vector import make_pool\n"
        "with make_pool('plain/Guess-v0', 2, workers=1) as pool: print(pool.reset(1, seed=0)[1]['instruction'])\n"))
    assert played.stdout.split() == ["WON", "demo", "Guess", "the", "fruit."], played.stderr


def test_plugin_is_invisible_without_its_package():
    assert "demo/Guess-v0" not in envs.cards()
