"""The Ray env pool: the same episodes as the subprocess pool, and the same crash contract (a dead actor is
restarted, its envs are truncated and flagged, the run goes on)."""

from __future__ import annotations

import time

import pytest

from credo.ray_cluster import RayConfig
from envs.vector import CRASH_NOTE, make_pool
from tests.test_env_vector import ENV_ID

pytest.importorskip("ray")

RAY = RayConfig(env_actor_cpus=0.5)
MINIHACK = "credo/MiniHack-Room-Random-5x5-v0"


def _episodes(pool, seeds: list[int], rounds: int) -> list:
    """Reset every env with its seed, then step each with its first admissible action (cycled) for `rounds`."""
    trace, infos = [], {}
    for i, s in enumerate(seeds):
        obs, infos[i] = pool.reset(i, seed=s)
        trace.append(obs)
    for r in range(rounds):
        acts = {i: infos[i]["admissible_actions"][(i + r) % len(infos[i]["admissible_actions"])]
                for i in range(len(seeds))}
        out = pool.step(acts)
        for i, (obs, rew, term, trunc, info) in out.items():
            trace.append((i, obs, rew, term, trunc, info["success"]))
            infos[i] = info if not (term or trunc) else pool.reset(i, seed=seeds[i] + 100)[1]
    return trace


def test_ray_pool_gives_the_subprocess_pools_minihack_episodes(ray_cluster):
    seeds = [3, 4, 5, 3]
    with make_pool(MINIHACK, 4, workers=2, kind="ray", ray_config=RAY) as ray_pool:
        assert ray_pool.num_workers == 2 and [ray_pool.worker_of(i) for i in range(4)] == [0, 1, 0, 1]
        got = _episodes(ray_pool, seeds, rounds=6)
    with make_pool(MINIHACK, 4, workers=2) as sub_pool:
        want = _episodes(sub_pool, seeds, rounds=6)
    assert got == want
    assert got[0] == got[3]  # same seed, same episode start


def test_killed_actor_is_restarted_and_its_envs_truncated(ray_cluster):
    with make_pool(ENV_ID, 4, workers=2, kind="ray", ray_config=RAY) as pool, make_pool(ENV_ID, 1) as local:
        for i in range(4):
            pool.reset(i, seed=i)
        out = pool.step({0: "exit", 1: "add 1", 2: "add 1"})  # env 0 kills actor 0, which also holds env 2
        for i in (0, 2):
            obs, reward, terminated, truncated, info = out[i]
            assert truncated and not terminated and info["worker_crashed"] and obs == CRASH_NOTE
        assert not out[1][3] and "worker_crashed" not in out[1][4]
        assert pool.restarts == 1
        assert pool.step({2: "add 1"})[2][4]["worker_crashed"]  # until it is reset
        assert not pool.step({3: "add 1"})[3][3]  # the other actor's env carries on
        obs, _ = pool.reset(2, seed=2)  # the restarted actor answers with fresh envs
        assert obs == local.reset(0, seed=2)[0]
        assert not pool.step({2: "add 1"})[2][3]
        # the same with a step in flight: step_async, then the actor dies before step_wait collects it
        pool.reset(0, seed=0)
        ticket = pool.step_async({0: "kill", 1: "add 1"})
        res = pool.step_wait(ticket)
        assert res[0][4]["worker_crashed"] and not res[1][3] and pool.restarts == 2


def test_env_errors_and_bad_envs_are_one_line_errors(ray_cluster):
    with pytest.raises(RuntimeError, match="could not make credo-test/Counter-v0 in a Ray env actor: TypeError"):
        make_pool(ENV_ID, 2, workers=1, kind="ray", ray_config=RAY, env_kwargs={"no_such_kwarg": 1})
    with pytest.raises(ValueError, match="pool must be 'local' or 'ray'"):
        make_pool(ENV_ID, 2, kind="slurm")


def test_actor_that_died_idle_is_noticed_at_the_next_step(ray_cluster):
    with make_pool(ENV_ID, 2, workers=1, kind="ray", ray_config=RAY) as pool:
        for i in range(2):
            pool.reset(i, seed=i)
        actor, before = pool._actors[0], pool._incarnation[0]
        ray_cluster.kill(actor, no_restart=False)  # dies between calls: no call of ours saw it
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # the kill is asynchronous: wait for the restarted actor
            try:
                if ray_cluster.get(actor.ready.remote(), timeout=10) != before:
                    break
            except ray_cluster.exceptions.RayError:
                time.sleep(0.2)
        out = pool.step({0: "add 1", 1: "add 1"})
        assert all(r[4]["worker_crashed"] for r in out.values()) and pool.restarts == 1
        pool.reset(0, seed=0)
        assert not pool.step({0: "add 1"})[0][3] and pool.restarts == 1
