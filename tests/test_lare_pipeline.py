"""LaRe end to end on a small env: recorded LLM replies -> self-verification -> sandbox -> decoder -> step rewards."""

from __future__ import annotations

import copy
import json
import logging
import random
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

import credit
from credit.base import CreditContext
from credit.lare import LaRe, LaReConfig
from credo.config import ConfigError
from credo.trajectory import Episode, Step
from envs.core import TextEnv
from envs.textworld.env import TextWorldEnv

FIXTURES = Path(__file__).parent / "fixtures" / "lare"
ACTIONS = ["take coin", "go east", "go west", "wait"]


class CoinsEnv(TextEnv):
    """Three rooms with a coin each; +1 point per coin taken; won with all three. A small stand-in for TextWorld:
    its family, state schema and outcome keys, so the TextWorld fixtures replay on it."""

    family = "textworld"
    state_schema: ClassVar[dict[str, str]] = TextWorldEnv.state_schema
    outcome_keys: ClassVar[frozenset[str]] = TextWorldEnv.outcome_keys

    def _state(self) -> dict[str, Any]:
        coin = [{"name": "coin", "kind": "object", "where": "room", "status": ""}] if self.coins[self.room] else []
        exits = ["west"] * (self.room > 0) + ["east"] * (self.room < 2)
        return {"room": f"room {self.room}", "inventory": ["coin"] * self.points, "objects": coin, "exits": exits,
                "points": self.points, "max_points": 3, "moves": self.moves, "won": self.points == 3, "lost": False,
                "game": self.game}

    def _info(self) -> dict[str, Any]:
        return {"instruction": "collect the three coins", "admissible_actions": list(ACTIONS),
                "state": self._state(), "success": self.points == 3, "score": self.points / 3}

    def _reset(self, seed: int | None, options: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        self.game, self.room, self.points, self.moves = seed or 0, (seed or 0) % 3, 0, 0
        self.coins = [True, True, True]
        return "You are in a room.", self._info()

    def _step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        self.moves += 1
        reward = 0.0
        if action == "take coin" and self.coins[self.room]:
            self.coins[self.room], self.points, reward = False, self.points + 1, 1.0
        elif action == "go east":
            self.room = min(self.room + 1, 2)
        elif action == "go west":
            self.room = max(self.room - 1, 0)
        return "ok", reward, self.points == 3, self.moves >= 12 and self.points < 3, self._info()


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def play(n: int, seed: int = 0) -> list[Episode]:
    """Random-action episodes recorded as the rollout records them."""
    rng = random.Random(seed)
    env, episodes = CoinsEnv(), []
    for i in range(n):
        _, info = env.reset(seed=seed + i)
        ep = Episode(f"e{i}", f"g{i % 2}", "test/Coins-v0", seed + i, info["instruction"])
        done = False
        while not done:
            action = rng.choice(ACTIONS)
            state = info["state"]
            _, reward, term, trunc, info = env.step(action)
            done = term or trunc
            ep.steps.append(Step(ep.episode_id, ep.group_id, len(ep.steps), "obs", [1], [2], action, 0.0,
                                 reward=reward, state=state, next_state=info["state"], done=done))
        ep.success = info["success"]
        episodes.append(ep)
    return episodes


def make(tmp_path: Path, seed: int = 0, judge_url: str | None = None, **cfg: Any) -> LaRe:
    config = LaReConfig(cache_dir=str(tmp_path / "cache"), probe_episodes=2, probe_steps=8, hidden=32,
                        updates_per_assign=20, **cfg)
    context = CreditContext(run_dir=tmp_path / "run", env_id="test/Coins-v0", seed=seed, judge_url=judge_url,
                            env_factory=CoinsEnv)
    return LaRe(config, context)


def folder(tmp_path: Path) -> Path:
    (found,) = (tmp_path / "run" / "credit" / "lare").iterdir()
    return found


def test_registered() -> None:
    assert credit.get("lare") is LaRe and credit.parse_spec("lare:0.5") == [("lare", 0.5)]


def test_good_replies_are_accepted_saved_reused_and_give_step_rewards(tmp_path: Path) -> None:
    module = make(tmp_path, replies=str(FIXTURES / "good.json"))
    try:
        assert module.active and module.accepted is not None and module.accepted.n_factors == 5
        saved = folder(tmp_path)
        record = json.loads((saved / "dialogue.json").read_text())
        assert [c["purpose"] for c in record["calls"]] == ["sample", "merge"]
        assert [c["temperature"] for c in record["calls"]] == [1.0, 0.3]
        assert record["calls"][1]["checks"] == ["ok"] and record["accepted"]
        prompt = record["calls"][0]["messages"][0]["content"]
        assert "STATE FORM" in prompt and "- inventory: list of carried item names" in prompt
        assert "- points:" not in prompt and '"points"' not in prompt  # the outcome is left out
        assert record["family"] == "textworld" and record["schema"] == json.loads(
            (FIXTURES / "good.json").read_text())["schema"]
        assert "collect the three coins" in prompt and "EXAMPLE STATE" in prompt
        assert "def evaluate(state)" in (saved / "code.py").read_text()
        assert json.loads((saved / "meta.json").read_text())["n_factors"] == 5

        episodes = play(12)
        out = module.assign(episodes)
        assert [len(r) for r in out.step_rewards] == [ep.length for ep in episodes]
        assert all(np.isfinite(r).all() for r in out.step_rewards)
        assert out.metrics["active"] == 1.0 and out.metrics["invalid_states"] == 0
        assert out.metrics["decoder_loss"] >= 0 and out.metrics["n_factors"] == 5
    finally:
        module.close()

    # the same env and seed: no LLM needed, the cached code is reused (and re-checked)
    again = make(tmp_path)
    assert again.active and again.accepted is not None
    assert again.accepted.code == (saved / "code.py").read_text()
    again.close()
    # another seed has nothing cached and no LLM: a one-line error at construction, not mid-run
    with pytest.raises(ConfigError, match="no LLM") as err:
        make(tmp_path, seed=7)
    assert "\n" not in str(err.value) and "--judge-url" in str(err.value)


def test_a_repair_round_fixes_the_merged_code(tmp_path: Path) -> None:
    module = make(tmp_path, replies=str(FIXTURES / "repair.json"))
    module.close()
    record = json.loads((folder(tmp_path) / "dialogue.json").read_text())
    assert [c["purpose"] for c in record["calls"]] == ["sample", "merge", "repair 1"]
    assert record["calls"][1]["checks"][0].startswith("state 0: KeyError: 'score'")
    repair_turn = record["calls"][2]["messages"][-1]["content"]
    assert repair_turn.startswith("There is an error in your previous answer. Error: state 0: KeyError: 'score'")
    assert record["calls"][2]["messages"][-2]["role"] == "assistant"  # the failed answer precedes the error
    assert record["calls"][2]["checks"] == ["ok"] and module.accepted is not None
    assert 'state["score"]' not in module.accepted.code


def test_hostile_replies_are_all_rejected_and_the_run_goes_on_without_lare(tmp_path: Path,
                                                                             caplog: pytest.LogCaptureFixture) -> None:
    pwned = Path("/tmp/credo-lare-pwned")
    pwned.unlink(missing_ok=True)
    with caplog.at_level(logging.WARNING, logger="credit.lare"):
        module = make(tmp_path, replies=str(FIXTURES / "hostile.json"), cpu_seconds=1, wall_seconds=10)
    assert not module.active
    assert "WITHOUT LaRe" in caplog.text
    record = json.loads((folder(tmp_path) / "dialogue.json").read_text())
    assert not record["accepted"] and len(record["calls"]) == 7
    checks = [c for call in record["calls"] for c in call["checks"]] + record["after"]
    assert len(checks) == 11 and not any(c.endswith("ok") for c in checks)
    text = " | ".join(checks)
    for reason in ("'subprocess' is not allowed", "'ctypes' is not allowed", "'__globals__'", "'os' is not allowed",
                   "MemoryError", "flat list", "'socket' is not allowed", "'open' is not allowed",
                   "'__subclasses__'"):
        assert reason in text, reason
    # the infinite loop is killed by its CPU budget, or by the wall clock first when the machine is overloaded
    assert "of CPU time (killed)" in text or "of wall time (killed)" in text
    assert not pwned.exists() and not (folder(tmp_path) / "code.py").exists()
    out = module.assign(play(3))
    assert out.metrics == {"active": 0.0} and all((r == 0).all() for r in out.step_rewards)


def test_unreachable_llm_is_a_one_line_error_at_construction(tmp_path: Path) -> None:
    config = LaReConfig(cache_dir="", probe_episodes=1, probe_steps=2, judge_retries=0)
    context = CreditContext(env_id="test/Coins-v0", judge_url="http://127.0.0.1:9/v1", env_factory=CoinsEnv)
    with pytest.raises(ConfigError, match="cannot get an answer from the LLM") as err:
        LaRe(config, context)
    assert "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="needs an env"):
        LaRe(config, CreditContext(judge_url="http://127.0.0.1:9/v1"))


@pytest.mark.slow  # loads transformers and generates with the tiny model: ~25 s on the shared machine
def test_a_local_model_that_writes_no_valid_code_leaves_the_run_without_lare(tmp_path: Path,
                                                                            caplog: pytest.LogCaptureFixture) -> None:
    """The `local` back-end (credo's untrained tiny model): replies are no JSON, every check fails, LaRe is off."""
    with caplog.at_level(logging.WARNING, logger="credit.lare"):
        module = make(tmp_path, judge_backend="local", judge_model="tiny", n_candidates=2, repair_rounds=1,
                      max_tokens=64)
    assert not module.active and "WITHOUT LaRe" in caplog.text
    record = json.loads((folder(tmp_path) / "dialogue.json").read_text())
    assert [c["purpose"] for c in record["calls"]] == ["sample", "merge", "repair 1"]
    assert all(len(c["replies"]) == c["n"] for c in record["calls"])
    assert len(record["after"]) == 2 and "JSON" in record["calls"][1]["checks"][0]
    with pytest.raises(ConfigError, match="lare: local judge: cannot load model"):
        make(tmp_path, judge_backend="local", judge_model=str(tmp_path / "missing"))


def test_direct_mode_uses_the_code_output_as_the_reward(tmp_path: Path) -> None:
    module = make(tmp_path, replies=str(FIXTURES / "direct.json"), mode="direct", n_candidates=1)
    episodes = play(4)
    out = module.assign(episodes)
    module.close()
    assert module.trainer is None
    for ep, rewards in zip(episodes, out.step_rewards, strict=True):
        np.testing.assert_allclose(rewards, [len(s.next_state["inventory"]) / 3 for s in ep.steps])


HANG_ON_LONG_GAMES = """def evaluate(state):
    while state.get("moves", 0) > 1000:
        pass
    return [float(len(state.get("inventory", []))), float(state.get("moves", 0))]
"""


def test_a_sandbox_failure_mid_run_costs_the_batch_then_lare_switches_off(tmp_path: Path) -> None:
    code = tmp_path / "code.py"
    code.write_text(HANG_ON_LONG_GAMES)
    module = make(tmp_path, code_file=str(code), cpu_seconds=1, wall_seconds=2, max_sandbox_failures=2)
    episodes = play(2)
    assert module.assign(episodes).metrics["active"] == 1.0
    bad = play(1)
    bad[0].steps[0].next_state = {"moves": 5000}
    out = module.assign(bad)
    assert out.metrics == {"active": 0.0, "sandbox_failures": 1.0} and module.active  # one failure: still on
    assert [len(r) for r in out.step_rewards] == [bad[0].length] and not out.step_rewards[0].any()
    module.assign(bad)
    assert not module.active and module.assign(episodes).metrics == {"active": 0.0}


def test_states_the_code_fails_on_count_as_invalid_not_as_crashes(tmp_path: Path) -> None:
    code = tmp_path / "code.py"
    code.write_text('def evaluate(state):\n    return [float(state["moves"])] * (1 if state["moves"] < 100 else 2)\n')
    module = make(tmp_path, code_file=str(code), mode="direct")
    episodes = play(2)
    for s in episodes[1].steps:
        s.next_state = {"moves": 500}  # here the code returns two values instead of one
    out = module.assign(episodes)
    assert out.metrics["invalid_states"] == episodes[1].length
    np.testing.assert_allclose(out.step_rewards[0], [s.next_state["moves"] for s in episodes[0].steps])
    assert (out.step_rewards[1] == 0.0).all()
    out = module.assign(episodes[1:])  # a batch where no state gives the accepted length
    assert out.metrics["invalid_states"] == episodes[1].length and (out.step_rewards[0] == 0.0).all()
    module.close()


FACTORS = """def evaluate(state):
    return [float(len(state.get("inventory", []))), float(len(state.get("room", ""))), float(state.get("moves", 0))]
"""


def test_dense_env_rewards_never_reach_the_decoder_and_state_round_trips(tmp_path: Path) -> None:
    code = tmp_path / "code.py"
    code.write_text(FACTORS)
    a, b = (make(tmp_path, code_file=str(code)) for _ in range(2))
    episodes = play(8)
    moved = play(8)  # the same episodes with each return moved onto the last step: same outcome
    for ep in moved:
        total = ep.total_reward
        for s in ep.steps:
            s.reward = 0.0
        ep.steps[-1].reward = total
    out_a, out_b = a.assign(episodes), b.assign(moved)
    for ra, rb in zip(out_a.step_rewards, out_b.step_rewards, strict=True):
        np.testing.assert_allclose(ra, rb)

    c = make(tmp_path, code_file=str(code))
    c.load_state_dict(copy.deepcopy(a.state_dict()))  # as a checkpoint on disk would be
    more = play(4, seed=100)
    for ra, rc in zip(a.assign(more).step_rewards, c.assign(more).step_rewards, strict=True):
        np.testing.assert_allclose(ra, rc, rtol=1e-5, atol=1e-6)
    for m in (a, b, c):
        m.close()


def test_code_is_written_through_an_openai_compatible_judge_url(tmp_path: Path) -> None:
    """The `openai` back-end path: a loopback OpenAI-compatible server answering with the good.json replies."""
    from llm_judges.testing import ScriptedUpstream, serve_in_thread

    recorded = [r for call in json.loads((FIXTURES / "good.json").read_text())["calls"] for r in call["replies"]]

    class Replaying(ScriptedUpstream):
        def reply(self, prompt: str) -> str:
            return recorded.pop(0)

    upstream = Replaying()
    with serve_in_thread(upstream.app) as url:  # a base URL without /v1: the module adds it
        module = make(tmp_path, judge_url=url, judge_model="scripted-llm", judge_retries=0)
        module.close()
    assert module.accepted is not None and module.accepted.n_factors == 5 and not recorded
    assert upstream.requests == 2  # the 5 candidates in one request (n=5), then the merge
    body = upstream.last_body
    assert body["n"] == 1 and body["temperature"] == 0.3 and body["response_format"] == {"type": "json_object"}
    assert body["messages"][-1]["content"].startswith("Above are several candidate answers.")
