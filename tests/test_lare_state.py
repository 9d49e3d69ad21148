"""What LaRe's code reads: no outcome keys unless asked, the action when asked, no constant factors, and replies
and cached code bound to the env family and state schema they were written for (issue 14, item 3)."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import envs
from credit.base import CreditContext
from credit.lare import LaRe, LaReConfig
from credit.lare_codegen import execution_check
from credit.lare_sandbox import SandboxError, SandboxLimits
from credit.lare_state import StateView
from credo.config import ConfigError
from tests.test_lare_pipeline import FIXTURES, CoinsEnv, folder, make, play

pytestmark = pytest.mark.usefixtures("one_torch_thread")

ROOT = Path(__file__).resolve().parents[1]
KEYROOM = "credo/MiniHack-KeyRoom-Fixed-S5-v0"
ROOM = "credo/MiniHack-Room-5x5-v0"
KEYROOM_WIN = ["south", "southwest", "pickup", "north", "apply", "north", "west", "west"]
"""A successful KeyRoom-Fixed-S5 episode (seed 0): to the key, pick it up, unlock the door, through it to '>'."""


def code_file(tmp_path: Path, code: str) -> str:
    path = tmp_path / "evaluate.py"
    path.write_text(code)
    return str(path)


def test_the_outcome_keys_never_reach_the_code_unless_include_outcome(tmp_path: Path) -> None:
    # direct mode: the reward is the number of keys the code sees plus the moves (so it is not constant)
    code = code_file(tmp_path, 'def evaluate(state):\n    return [100.0 * len(state) + state["moves"]]\n')
    episodes = play(3)
    moves = [np.array([s.next_state["moves"] for s in ep.steps], float) for ep in episodes]
    hidden = make(tmp_path, code_file=code, mode="direct")
    shown = make(tmp_path, code_file=code, mode="direct", include_outcome=True)
    n_keys = len(CoinsEnv.state_schema)
    for module, keys in ((hidden, n_keys - 3), (shown, n_keys)):  # points, won and lost are TextWorld's outcome
        for rewards, m in zip(module.assign(episodes).step_rewards, moves, strict=True):
            np.testing.assert_allclose(rewards, 100.0 * keys + m)
        module.close()


def test_code_naming_an_outcome_key_is_refused_and_runs_with_include_outcome(tmp_path: Path) -> None:
    leak = code_file(tmp_path, 'def evaluate(state):\n    return [float(state.get("points", 0))]\n')
    with pytest.raises(ConfigError, match="reads 'points'.*include_outcome=true") as err:
        make(tmp_path, code_file=leak, mode="direct")
    assert "\n" not in str(err.value)
    module = make(tmp_path, code_file=leak, mode="direct", include_outcome=True)
    episodes = play(3)
    for ep, rewards in zip(episodes, module.assign(episodes).step_rewards, strict=True):
        np.testing.assert_allclose(rewards, [s.next_state["points"] for s in ep.steps])
    module.close()
    # the LLM's code is held to the same rule, with a reason it can act on in a repair turn
    states = [StateView(CoinsEnv.outcome_keys)(s.next_state) for s in episodes[0].steps]
    with pytest.raises(SandboxError, match="reads 'won', which the state does not have"):
        execution_check('def evaluate(state):\n    return [float(state["won"])]\n', states, SandboxLimits(),
                        "factors", StateView(CoinsEnv.outcome_keys))


def test_include_action_gives_the_code_the_action_text_and_says_so_in_the_prompt(tmp_path: Path) -> None:
    reads_action = code_file(tmp_path, 'def evaluate(state):\n    return [float(len(state.get("action", "")))]\n')
    episodes = play(3)
    for include, expected in ((False, lambda s: 0.0), (True, lambda s: len(s.action_text))):
        module = make(tmp_path, code_file=reads_action, mode="direct", include_action=include)
        assert module.accepted is not None and module.accepted.constant == ([] if include else [0])
        for ep, rewards in zip(episodes, module.assign(episodes).step_rewards, strict=True):
            np.testing.assert_allclose(rewards, [expected(s) for s in ep.steps])
        module.close()

    # replies recorded with the action in the schema: replayed only with include_action
    with pytest.raises(ConfigError, match=r"state schema \w+\), not this env's textworld family"):
        make(tmp_path, replies=str(FIXTURES / "action.json"), n_candidates=1)
    module = make(tmp_path, replies=str(FIXTURES / "action.json"), include_action=True, n_candidates=1)
    assert module.accepted is not None and module.folder is not None
    prompt = json.loads((module.folder / "dialogue.json").read_text())["prompt"]
    module.close()
    assert "- action: the action text the agent sent at this step" in prompt
    assert '"action": "' in prompt.split("EXAMPLE STATE:")[1]


def test_all_constant_factors_get_a_repair_turn_naming_them(tmp_path: Path) -> None:
    module = make(tmp_path, replies=str(FIXTURES / "constant.json"), n_candidates=1)
    record = json.loads((folder(tmp_path) / "dialogue.json").read_text())
    module.close()
    assert [c["purpose"] for c in record["calls"]] == ["sample", "repair 1"]
    (first,) = record["calls"][0]["checks"]
    assert first.startswith("every factor is constant over all") and "factor 1 = 0, factor 2 = 1" in first
    assert record["calls"][1]["messages"][-1]["content"].startswith(
        "There is an error in your previous answer. Error: every factor is constant")
    assert record["calls"][1]["checks"] == ["ok"] and module.accepted is not None


def test_constant_factors_any_refuses_one_constant_factor() -> None:
    states = [{"moves": m, "hp": 5} for m in range(4)]
    code = 'def evaluate(state):\n    return [float(state["moves"]), float(state["hp"])]\n'
    accepted = execution_check(code, states, SandboxLimits(), "factors")
    assert accepted.constant == [1]
    accepted.sandbox.close()
    with pytest.raises(SandboxError, match=r"1 of the 2 factors are constant .*\(factor 2 = 5\)"):
        execution_check(code, states, SandboxLimits(), "factors", constant="any")


def test_replies_recorded_for_textworld_are_refused_on_the_default_minihack_env(tmp_path: Path) -> None:
    config = LaReConfig(replies=str(FIXTURES / "good.json"), cache_dir=str(tmp_path / "cache"), probe_episodes=1,
                        probe_steps=3)
    context = CreditContext(run_dir=tmp_path / "run", env_id=ROOM, env_factory=lambda: envs.make(ROOM))
    with pytest.raises(ConfigError, match="textworld env family.*not this env's minihack family") as err:
        LaRe(config, context)
    assert "\n" not in str(err.value)
    assert not (tmp_path / "cache").exists()  # nothing was cached for MiniHack


def test_replies_that_do_not_say_their_family_are_refused_with_what_to_add(tmp_path: Path) -> None:
    data = json.loads((FIXTURES / "good.json").read_text())
    schema = data.pop("schema")
    del data["family"]
    path = tmp_path / "old.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match=f'do not say which env family.*"family": "textworld", "schema": "{schema}"'):
        make(tmp_path, replies=str(path))


def test_cached_code_for_another_family_or_schema_is_a_logged_cache_miss(tmp_path: Path,
                                                                          caplog: pytest.LogCaptureFixture) -> None:
    make(tmp_path, replies=str(FIXTURES / "good.json")).close()
    (cached,) = (tmp_path / "cache").iterdir()
    meta = json.loads((cached / "meta.json").read_text())
    assert (meta["family"], meta["schema"]) == ("textworld", json.loads((FIXTURES / "good.json").read_text())["schema"])
    shutil.rmtree(tmp_path / "run")  # the run folder holds a copy too: only the cache may answer
    make(tmp_path).close()  # same family and schema: reused, no LLM needed
    shutil.rmtree(tmp_path / "run")
    (cached / "meta.json").write_text(json.dumps({**meta, "family": "minihack"}))
    with caplog.at_level(logging.INFO, logger="credit.lare"), pytest.raises(ConfigError, match="no LLM"):
        make(tmp_path)
    assert "not reusing the code" in caplog.text and "minihack env family" in caplog.text
    assert "textworld env family" in caplog.text


# -- the shipped MiniHack factor files (configs/lare/) --------------------------------------------------------
def minihack(env_id: str, tmp_path: Path, name: str, **cfg: Any) -> LaRe:
    config = LaReConfig(code_file=str(ROOT / "configs" / "lare" / f"minihack_{name}.py"), cache_dir="",
                        probe_episodes=2, probe_steps=15, **cfg)
    return LaRe(config, CreditContext(run_dir=tmp_path, env_id=env_id, env_factory=lambda: envs.make(env_id)))


def scripted_states(view: StateView) -> list[dict[str, Any]]:
    env = envs.make(KEYROOM)
    _, info = env.reset(seed=0)
    states = [view(info["state"])]
    for action in KEYROOM_WIN:
        _, _, terminated, _, info = env.step(action)
        states.append(view(info["state"], action))
    env.close()
    assert terminated and info["success"]
    return states


@pytest.mark.parametrize("env_id", [KEYROOM, ROOM])
def test_the_shipped_factor_files_run_in_the_sandbox_on_real_states(env_id: str, tmp_path: Path) -> None:
    for name in ("informative", "noise"):
        module = minihack(env_id, tmp_path, name)
        assert module.active and module.accepted is not None
        module.close()
    with pytest.raises(ConfigError, match="reads 'progression', 'score'"):
        minihack(env_id, tmp_path, "leak")
    module = minihack(env_id, tmp_path, "leak", include_outcome=True)
    assert module.accepted is not None and module.accepted.n_factors == 2
    module.close()


def test_the_informative_factors_follow_a_successful_keyroom_episode(tmp_path: Path) -> None:
    module = minihack(KEYROOM, tmp_path, "informative")
    assert module.accepted is not None
    factors = module.accepted.sandbox.evaluate(scripted_states(module.view)).factors
    module.close()
    has_key, key_dist, door_open, door_dist, stairs_seen, stairs_dist = factors.T
    # reset, south, southwest (on the key), pickup, north, apply (unlocks and opens), north, west (door), west (>)
    assert has_key.tolist() == [0, 0, 0, 1, 1, 1, 1, 1, 1]
    assert key_dist.tolist()[:4] == [-2, -1, -20, 0]  # the key is under the hero after southwest: not in view
    assert door_open.tolist() == [0, 0, 0, 0, 0, 1, 1, 1, 1]  # then on the door: passed, the stairs in view
    assert stairs_seen.tolist() == [0, 0, 0, 0, 0, 1, 1, 1, 1]
    assert stairs_dist[5:].tolist() == [-2, -2, -1, -1]  # walking to the staircase (the last state: the game over)
    assert door_dist.tolist() == [-2, -2, -2, -2, -1, -1, -1, 0, 0]

    leak = minihack(KEYROOM, tmp_path, "leak", include_outcome=True)
    assert leak.accepted is not None
    progress = leak.accepted.sandbox.evaluate(scripted_states(leak.view)).factors[:, 0]
    leak.close()
    assert progress.tolist() == [0] * 8 + [1]  # the outcome, read off the last state
