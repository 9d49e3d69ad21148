"""Batched rollout: one forward pass per env step across all envs, whole groups, faithful step records."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from agents.policy import Policy
from agents.prompts import PromptBuilder
from agents.rollout import Rollout
from credo.config import ConfigError
from tests._agent_helpers import ENV_ID, LineEnv, line_policy


class CountingPolicy:
    """Wraps a policy and records the batch size of every `act` call."""

    def __init__(self, policy: Policy) -> None:
        self.inner, self.config, self.calls = policy, policy.config, []

    def act(self, prompts: list[list[int]], candidates: Any = None, greedy: bool = False) -> Any:
        self.calls.append(len(prompts))
        return self.inner.act(prompts, candidates, greedy)


def test_groups_batching_and_step_records(policy):
    torch.manual_seed(0)
    counting = CountingPolicy(policy)
    builder = PromptBuilder("test", policy.tokenizer)
    rollout = Rollout(counting, builder, ENV_ID, num_envs=6, group_size=3, seed=7, max_episode_steps=12)
    episodes = rollout.collect(60)
    rollout.close()
    assert sum(e.length for e in episodes) >= 60
    assert counting.calls and set(counting.calls) == {6}  # every call serves all six envs at once
    assert len(counting.calls) * 6 == rollout.env_steps
    _assert_replays(episodes, builder, policy, group_size=3)


def _assert_replays(episodes: list, builder: PromptBuilder, policy: Policy, group_size: int) -> None:
    """Whole groups in start order, and every step as the env and the prompt builder would make it again."""
    groups: dict[str, list] = {}
    for e in episodes:
        groups.setdefault(e.group_id, []).append(e)
    assert all(len(g) == group_size for g in groups.values())  # only whole groups are returned
    assert all(len({e.seed for e in g}) == 1 for g in groups.values())
    assert len({g[0].seed for g in groups.values()}) == len(groups)  # a new seed per group
    starts = [e.metrics["start_index"] for e in episodes]
    assert starts == sorted(starts)
    for e in episodes:
        env = LineEnv()
        obs, info = env.reset(seed=e.seed)
        assert e.instruction == "reach the goal" and e.length <= 12
        for t, s in enumerate(e.steps):  # replaying the actions reproduces the recorded observations/rewards
            assert s.step_index == t and s.observation == obs and s.episode_id == e.episode_id
            assert s.candidates == ["east", "west", "wait"] and s.action_text in s.candidates
            assert s.prompt_ids == builder.build(e.instruction, [(x.observation, x.action_text)
                                                                 for x in e.steps[:t]], obs)
            assert s.action_ids == policy.candidate_ids(s.action_text) and s.logprob < 0
            assert s.generated_text == "" and len(s.candidate_logprobs) == len(s.candidates)
            assert s.state == info["state"]
            obs, r, term, trunc, info = env.step(s.action_text)
            assert s.reward == r and s.next_state == info["state"]
        assert e.steps[-1].done and e.success == info["success"]
        assert e.truncated == (not e.success)
        if e.success:
            assert 0 < e.metrics["efficiency"] <= 1
        else:
            assert "efficiency" not in e.metrics
    # recorded log-probs are the acting distribution's: re-scoring gives them back
    steps = [s for e in episodes[:3] for s in e.steps]
    assert torch.allclose(policy.action_logprobs(steps).detach(), torch.tensor([s.logprob for s in steps]),
                          atol=1e-5)


def test_overlapped_halves_act_while_the_other_half_steps(policy):
    torch.manual_seed(0)
    counting = CountingPolicy(policy)
    builder = PromptBuilder("test", policy.tokenizer)
    rollout = Rollout(counting, builder, ENV_ID, num_envs=4, group_size=2, seed=3, max_episode_steps=12,
                      workers=2, overlap=True)
    assert rollout._halves == [[0, 2], [1, 3]]  # each half in its own worker
    collected = [rollout.collect(40), rollout.collect(20)]
    rollout.close()
    assert set(counting.calls) == {2}  # every call serves one half
    assert rollout.env_steps == 2 * len(counting.calls) - 2  # the last half is still in flight
    for episodes in collected:
        _assert_replays(episodes, builder, policy, group_size=2)
    with pytest.raises(ConfigError, match="workers >= 2"):
        Rollout(policy, builder, ENV_ID, num_envs=4, overlap=True)


def test_in_flight_episodes_carry_over_between_collects(policy):
    rollout = Rollout(policy, PromptBuilder("test", policy.tokenizer), ENV_ID, num_envs=4, seed=1,
                      max_episode_steps=12)
    first = rollout.collect(10)
    second = rollout.collect(10)
    rollout.close()
    ids = [e.episode_id for e in first + second]
    assert len(ids) == len(set(ids))
    assert max(e.metrics["start_index"] for e in first) < rollout._episodes_started


def test_generate_mode_invalid_text_is_penalised_not_fatal(cache_dir):
    gen = line_policy(cache_dir, mode="generate", max_new_tokens=4, invalid_penalty=0.1)
    rollout = Rollout(gen, PromptBuilder("test", gen.tokenizer, generate=True), ENV_ID, num_envs=2,
                      max_episode_steps=3)
    episodes = rollout.collect(1)
    rollout.close()
    steps = [s for e in episodes for s in e.steps]
    invalid = [s for s in steps if s.action_text == ""]
    assert invalid, "a random tiny model should not write <action> tags"
    for s in invalid:
        assert not s.valid_action and s.reward == pytest.approx(-0.1) and s.candidates is None
        assert len(s.token_logprobs) == len(s.action_ids) >= 1
    for s in steps:  # the whole reply is kept for the viewer: the action (if any) was parsed from it
        assert s.generated_text == gen.tokenizer.decode(s.action_ids, skip_special_tokens=True)
        assert s.candidate_logprobs is None


class _NoActions(LineEnv):
    def _info(self, valid: bool = True) -> dict[str, Any]:
        return {**super()._info(valid), "admissible_actions": []}


def test_choose_mode_needs_admissible_actions(policy):
    class Pool:
        env = _NoActions()

        def reset(self, i, seed=None, options=None):
            return self.env.reset(seed=seed)

        def close(self):
            pass

    rollout = Rollout(policy, PromptBuilder("test", policy.tokenizer), ENV_ID, num_envs=1, pool=Pool())
    with pytest.raises(ConfigError, match="policy.mode=generate"):
        rollout.collect(1)
    with pytest.raises(ConfigError, match="must be >= 1"):
        Rollout(policy, PromptBuilder("test", policy.tokenizer), ENV_ID, num_envs=0, pool=Pool())


def test_episode_metrics_carry_the_envs_subgoals():
    from agents.rollout import episode_metrics
    from credo.trajectory import Episode

    ep = Episode("e", "g", "env", 0, "")
    assert episode_metrics(ep, {"subgoals": {"key": 1.0}}, None) == {"length": 0.0, "subgoal_key": 1.0}
    assert "subgoal_key" not in episode_metrics(ep, {}, None)
