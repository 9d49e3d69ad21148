"""OPRL/iStar: the implicit PRM learns, by trajectory DPO within groups, which action separates success from failure."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import credit
from credit.base import CreditContext
from credo.config import ConfigError
from tests._credit_helpers import make_episode, tiny_policy

GOOD, BAD = [14, 2], [15, 2]


def groups_batch(policy, n_groups: int = 3, all_success_group: bool = False):
    """Each group: 2 successes that take GOOD at step 1 and 2 failures that take BAD; other steps identical."""
    eps = []
    for g in range(n_groups):
        prompts = [[1, 3 + t, 8 + g] for t in range(3)]
        for k in range(4):
            success = k < 2 or all_success_group
            actions = [[12, 2], GOOD if success else BAD, [16, 2]]
            eps.append(make_episode(f"{g}-{k}", f"g{g}", prompts, actions, success=success, policy=policy))
    return eps


def oprl(policy, **kw):
    cls = credit.get("oprl")
    return cls(cls.Config(**kw), CreditContext(scorer=policy))


def step1_gap(out) -> float:
    """Mean step-1 reward of successes minus that of failures (episodes alternate 2 successes, 2 failures)."""
    r = np.array([s[1] for s in out.step_rewards])
    succ = np.array([i % 4 < 2 for i in range(len(r))])
    return float(r[succ].mean() - r[~succ].mean())


def test_prm_learns_the_deciding_action():
    policy = tiny_policy()
    module = oprl(policy, lr=1e-2, normalize="none", rewards_from="post_update")
    eps = groups_batch(policy)
    first = module.assign(eps)
    for _ in range(5):
        out = module.assign(eps)
    assert first.metrics["pairs"] == 3 * 4 and first.metrics["groups_with_pairs"] == 3
    assert out.metrics["prm_loss"] < first.metrics["prm_loss"]
    assert step1_gap(out) > 0.05
    # Steps 0 and 2 are the same in a group's successes and failures: same reward there.
    for g in range(3):
        for t in (0, 2):
            col = [s[t] for s in out.step_rewards[4 * g:4 * g + 4]]
            assert max(col) - min(col) < 1e-5
    # With normalisation every reward lies in [-1, 1] and the largest magnitude is 1.
    norm = oprl(policy, lr=1e-2)
    norm.assign(eps)
    flat = np.concatenate(norm.assign(eps).step_rewards)
    assert np.abs(flat).max() == pytest.approx(1.0, abs=1e-4)


def test_released_code_detached_variant_does_not_learn():
    policy = tiny_policy()
    module = oprl(policy, lr=1e-2, normalize="none", detach_prm_grad=True, trajectory_score="mean")
    eps = groups_batch(policy)
    for _ in range(6):
        out = module.assign(eps)
    assert abs(step1_gap(out)) < 1e-5
    for p, q in zip(module.prm.parameters(), policy.model.parameters(), strict=True):
        assert torch.equal(p, q)


def test_groups_without_pairs_and_empty_input():
    policy = tiny_policy()
    module = oprl(policy, lr=1e-2)
    eps = groups_batch(policy, n_groups=1, all_success_group=True)
    out = module.assign(eps)
    assert out.metrics["pairs"] == 0 and [len(r) for r in out.step_rewards] == [3] * 4
    for p, q in zip(module.prm.parameters(), policy.model.parameters(), strict=True):
        assert torch.equal(p, q)  # no pair, no update
    assert module.assign([]).step_rewards == []


def test_chunked_gradient_is_exact():
    """A micro-batch of 1 step gives the same PRM update as the whole batch in one pass."""
    policy = tiny_policy()
    eps = groups_batch(policy, n_groups=2)
    a, b = oprl(policy, lr=1e-2, micro_batch_steps=1), oprl(policy, lr=1e-2, micro_batch_steps=1000)
    a.assign(eps)
    b.assign(eps)
    for p, q in zip(a.prm.parameters(), b.prm.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-6)


def test_state_round_trip_and_missing_policy():
    policy = tiny_policy()
    eps = groups_batch(policy, n_groups=1)
    trained = oprl(policy, lr=1e-2)
    trained.assign(eps)
    restored = oprl(policy, lr=1e-2)
    restored.load_state_dict(trained.state_dict())
    np.testing.assert_allclose(
        np.concatenate(restored.assign(eps).step_rewards), np.concatenate(trained.assign(eps).step_rewards),
        rtol=1e-4, atol=1e-6)
    with pytest.raises(ConfigError, match="oprl: needs the acting policy"):
        credit.get("oprl")().assign(eps)
