"""The env pool: in-process and subprocess pools agree, step only the listed envs, and survive a dying worker."""

from __future__ import annotations

import os
import signal
from typing import Any

import pytest

import envs
from envs.core import TextEnv
from envs.vector import CRASH_NOTE, InProcessPool, SubprocessPool, make_pool

ENV_ID = "credo-test/Counter-v0"


class CounterEnv(TextEnv):
    """Counts `add N` actions from a seed-dependent start; `exit` / `kill` make the process die (like NLE can)."""

    family = "test"

    def __init__(self, max_steps: int = 50, render_mode: str | None = None) -> None:
        super().__init__(render_mode)
        self.max_steps, self.value, self.t = max_steps, 0, 0

    def _info(self, valid: bool) -> dict[str, Any]:
        return {"instruction": "reach 10", "admissible_actions": ["add 1", "add 2"], "valid_action": valid,
                "success": self.value >= 10, "score": float(self.value >= 10),
                "state": {"value": self.value, "pid": os.getpid()}}

    def _reset(self, seed: int | None, options: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        self.value, self.t = int(self.np_random.integers(0, 5)), 0
        return f"value {self.value}", self._info(True)

    def _step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        if action == "exit":
            os._exit(3)
        if action == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        self.t += 1
        valid = action in ("add 1", "add 2")
        if valid:
            self.value += int(action[-1])
        done = self.value >= 10
        return f"value {self.value}", float(done), done, self.t >= self.max_steps and not done, self._info(valid)


envs.register(ENV_ID, entry_point="tests.test_env_vector:CounterEnv", family="test", instruction_example="reach 10")


@pytest.fixture(scope="module")
def sub_pool():
    pool = make_pool(ENV_ID, 4, workers=2)
    yield pool
    pool.close()


def _play(pool, seeds: list[int], rounds: int = 3) -> list[Any]:
    trace: list[Any] = [pool.reset(i, seed=s)[0] for i, s in enumerate(seeds)]
    for r in range(rounds):
        out = pool.step({i: "add 1" if (i + r) % 2 else "add 2" for i in range(len(seeds))})
        trace.append([(o, rew, te, tr, info["state"]["value"]) for o, rew, te, tr, info in out.values()])
    return trace


def test_subprocess_pool_matches_in_process_pool(sub_pool):
    assert isinstance(sub_pool, SubprocessPool) and len(sub_pool) == 4
    local = make_pool(ENV_ID, 4)
    assert isinstance(local, InProcessPool)
    seeds = [11, 12, 13, 11]
    assert _play(sub_pool, seeds) == _play(local, seeds) == _play(local, seeds)
    # envs 0 and 3 share a seed, so they tell the same story
    trace = _play(sub_pool, seeds, rounds=0)
    assert trace[0] == trace[3]
    local.close()


def test_only_listed_envs_step_and_envs_live_in_two_workers(sub_pool):
    for i in range(4):
        sub_pool.reset(i, seed=i)
    before = [sub_pool.step({i: "noop"})[i][4]["state"]["value"] for i in range(4)]
    out = sub_pool.step({1: "add 2", 2: "add 1"})
    assert list(out) == [1, 2]
    after = [sub_pool.step({i: "noop"})[i][4]["state"]["value"] for i in range(4)]
    assert after == [before[0], before[1] + 2, before[2] + 1, before[3]]
    pids = {i: sub_pool.step({i: "noop"})[i][4]["state"]["pid"] for i in range(4)}
    assert pids[0] == pids[2] != pids[1] == pids[3] != os.getpid()


def test_step_async_steps_one_worker_while_the_other_is_free(sub_pool):
    local = make_pool(ENV_ID, 4)
    for pool in (sub_pool, local):
        for i in range(4):
            pool.reset(i, seed=20 + i)
    ticket = sub_pool.step_async({0: "add 1", 2: "add 2"})  # both in worker 0
    assert sub_pool.reset(1, seed=7)[0] == local.reset(1, seed=7)[0]  # worker 1 is free meanwhile
    assert sub_pool.step({3: "add 1"})[3][0] == local.step({3: "add 1"})[3][0]
    with pytest.raises(RuntimeError, match=r"workers \[0\] already have a step in flight"):
        sub_pool.step_async({2: "add 1"})
    with pytest.raises(RuntimeError, match="its worker 0 has a step in flight"):
        sub_pool.reset(0, seed=1)
    out = sub_pool.step_wait(ticket)
    assert list(out) == [0, 2]
    assert [r[0] for r in out.values()] == [r[0] for r in local.step({0: "add 1", 2: "add 2"}).values()]
    assert sub_pool.step({0: "add 1"})[0][0] == local.step({0: "add 1"})[0][0]  # worker 0 is free again
    local.close()


@pytest.mark.parametrize("how", ["exit", "kill"])
def test_crashed_worker_is_restarted_and_its_envs_truncated(how, caplog):
    assert make_pool(ENV_ID, 1).restarts == 0  # every pool has the count
    with make_pool(ENV_ID, 4, workers=2) as pool, caplog.at_level("WARNING", logger="envs.vector"):
        for i in range(4):
            pool.reset(i, seed=i)
        out = pool.step({0: how, 1: "add 1", 2: "add 1"})  # env 0 kills worker 0, which also holds env 2
        for i in (0, 2):
            obs, reward, terminated, truncated, info = out[i]
            assert truncated and not terminated and info["worker_crashed"] and obs == CRASH_NOTE
        assert not out[1][3] and "worker_crashed" not in out[1][4]
        assert pool.restarts == 1
        (line,) = [r.getMessage() for r in caplog.records]  # issue 18.8: a restart is said, not silent
        exit_code = 3 if how == "exit" else -signal.SIGKILL
        assert f"env worker 0 of {ENV_ID} died (exit code {exit_code}) and was restarted (restart 1" in line
        assert "its envs [0, 2] end their episodes truncated" in line
        # env 2's episode is gone until it is reset; env 3 (other worker) carries on
        assert pool.step({2: "add 1"})[2][4]["worker_crashed"]
        assert not pool.step({3: "add 1"})[3][3]
        obs, info = pool.reset(2, seed=2)
        assert obs == make_pool(ENV_ID, 1).reset(0, seed=2)[0]
        assert not pool.step({2: "add 1"})[2][3]


def test_bad_indices_and_unknown_ids_are_one_line_errors(sub_pool):
    with pytest.raises(IndexError, match="out of range"):
        sub_pool.step({9: "add 1"})
    with pytest.raises(KeyError, match="unknown env id"):
        make_pool("credo-test/Nope-v0", 2)
    with pytest.raises(ValueError, match="at least one env"):
        make_pool(ENV_ID, 0)


def test_env_that_cannot_be_made_is_a_one_line_error_at_pool_start():
    with pytest.raises(RuntimeError, match="could not make credo-test/Counter-v0 in a pool worker: TypeError"):
        make_pool(ENV_ID, 2, workers=1, env_kwargs={"no_such_kwarg": 1})
