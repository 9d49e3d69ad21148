"""The credit-quality diagnostic: oracle values from replayed MiniHack episodes, and `--diagnostic` end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest

import envs
from agents.bench.oracle import ReplayDiverged, replay, values
from agents.evaluate import RandomPolicy, _NoPrompt, play

ROOM = "credo/MiniHack-Room-5x5-v0"
KEYROOM = "credo/MiniHack-KeyRoom-Fixed-S5-v0"


def _random_episodes(env_id: str, n: int, cap: int):
    return play(RandomPolicy(0), _NoPrompt(), env_id, n, seed=7, num_envs=4, max_episode_steps=cap,
                env_kwargs={"compact": True})


def test_room_oracle_is_the_moves_left():
    env = envs.make(ROOM, compact=True)
    episodes = _random_episodes(ROOM, 30, 20)  # random success ~0.11
    assert any(ep.success for ep in episodes)
    for ep in episodes:
        v = values(replay(env, ep), "room")
        assert v[0] == -env.reset(seed=ep.seed)[1]["optimal_steps"]  # open room: Chebyshev = shortest path
        assert np.all(np.abs(np.diff(v)) <= 1)  # one move changes the distance by at most one
        assert (v[-1] == 0) == ep.success


def _cheb(a, b):
    return max(abs(a[0] - b[0]), abs(a[1] - b[1]))


def test_keyroom_oracle_follows_key_door_stairs():
    env = envs.make(KEYROOM, compact=True)
    pickups = 0
    for ep in _random_episodes(KEYROOM, 6, 200):
        states = replay(env, ep)
        v = values(states, "keyroom")
        assert np.all(v <= 0) and len(v) == ep.length + 1
        key = next(s.key for s in states if s.key)
        door = next(s.door for s in states if s.door)
        stairs = next((s.stairs for s in states if s.stairs), None)
        door_stairs = _cheb(door, stairs) if stairs else 1
        assert v[0] == -(_cheb(states[0].hero, key) + _cheb(key, door) + door_stairs)
        for t in range(1, len(states)):
            if states[t].has_key and not states[t - 1].has_key:  # picked up: on the path, V does not jump
                pickups += 1
                assert v[t] == v[t - 1] == -(_cheb(states[t].hero, door) + door_stairs)
    assert pickups > 0


def test_replay_refuses_an_episode_the_env_does_not_reproduce():
    env = envs.make(ROOM, compact=True)
    ep = next(e for e in _random_episodes(ROOM, 4, 20) if e.length > 3)
    ep.steps[2].observation = "something else"
    with pytest.raises(ReplayDiverged, match="step 2"):
        replay(env, ep)


def test_diagnostic_writes_a_rho_per_arm(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from credo.cli import cli

    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["bench", "credit", "--smoke", "--diagnostic", "--root", str(tmp_path)])
    assert result.exit_code == 0, result.output
    diag = json.loads((tmp_path / "bench-smoke" / "diagnostic.json").read_text())
    task = diag["tasks"]["room5"]
    assert task["oracle"] == "room" and task["batches"] == 2 and task["steps_per_batch"] > 0
    for arm in ("outcome", "gigpo"):
        rho = task["arms"][arm]["rho_advantage"]
        assert len(rho["values"]) == 2 and -1 <= rho["mean"] <= 1
    assert task["arms"]["outcome"]["rho_signal"]["mean"] is None  # outcome-only has no step signal
    assert "Credit-quality diagnostic" in (tmp_path / "bench-smoke" / "report.md").read_text()


def test_a_stopped_diagnostic_keeps_the_arms_it_finished(tmp_path, monkeypatch):
    from rich.console import Console

    from agents.bench import diagnostic
    from agents.bench.suite import load_suite

    real = diagnostic.score_arm

    def stop_at_gigpo(config, *args):
        if config.credit == "gigpo":
            raise KeyboardInterrupt
        return real(config, *args)

    monkeypatch.setattr(diagnostic, "score_arm", stop_at_gigpo)
    with pytest.raises(KeyboardInterrupt):
        diagnostic.run_diagnostic(load_suite("smoke"), tmp_path, console=Console(quiet=True))
    arms = json.loads((tmp_path / "bench-smoke" / "diagnostic.json").read_text())["tasks"]["room5"]["arms"]
    assert set(arms) == {"outcome"} and len(arms["outcome"]["rho_advantage"]["values"]) == 2
