"""SPA: the progress estimator learns which step decides the outcome; contributions sum to it on held-out episodes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import credit
from credit.base import CreditContext
from credo.config import ConfigError
from tests._credit_helpers import make_episode, tiny_policy

WIN, LOSE, OTHER = 12, 13, (14, 15)


def episodes(n: int, seed: int, prefix: str, valid_last: bool = True):
    """3-step episodes; only step 1 matters: action WIN succeeds, LOSE fails. Steps 0 and 2 act at random."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        decisive = WIN if (i // 2) % 2 == 0 else LOSE  # not aligned with the round-robin folds
        actions = [[int(rng.choice(OTHER)), 2], [decisive, 2], [int(rng.choice(OTHER)), 2]]
        prompts = [[1, 3 + t, 7] for t in range(3)]
        out.append(make_episode(f"{prefix}{i}", f"{prefix}{i}", prompts, actions, success=decisive == WIN,
                                valid=[True, True, valid_last]))
    return out


def spa(policy, **kw):
    cls = credit.get("spa")
    defaults = dict(lr=1e-3, head_lr=1e-2, weight_decay=0.0, epochs=30, batch_episodes=16, micro_batch_steps=64)
    return cls(cls.Config(**(defaults | kw)), CreditContext(scorer=policy, seed=0))


def test_estimator_credits_the_deciding_step_on_heldout_episodes():
    torch.set_num_threads(1)
    policy = tiny_policy()
    module = spa(policy, alpha=1.0, beta=0.0, epochs=50)
    out = module.assign(episodes(64, seed=0, prefix="train"))
    assert out.metrics["heldout_mse"] < 0.05  # every training-batch episode was scored by the other fold's model
    test = episodes(32, seed=1, prefix="test")
    c = np.stack(module.contributions(test))
    r = np.array([float(ep.success) for ep in test])
    assert np.abs(c.sum(1) - r).mean() < 0.15
    gap = c[r == 1].mean(0) - c[r == 0].mean(0)
    assert gap[1] > 0.8 and abs(gap[0]) < 0.15 and abs(gap[2]) < 0.15
    assert abs(gap[1]) / np.abs(gap).sum() > 0.85  # the deciding step carries most of the credit
    np.testing.assert_allclose(np.stack(out.step_rewards), np.stack(module.contributions(episodes(64, 0, "train"))),
                               atol=1e-5)


def test_folds_never_score_their_own_training_episodes():
    policy = tiny_policy()
    module = spa(policy, epochs=1)
    batch = episodes(8, seed=0, prefix="e")
    module.assign(batch)
    folds = [module._fold(ep) for ep in batch]
    assert folds == [0, 1] * 4
    grouped = spa(policy, epochs=1, fold_by="group")
    grouped.assign(batch)
    assert set(grouped.fold_of) == {ep.group_id for ep in batch}


def test_min_steps_trains_past_one_epoch_on_a_small_replay():
    """One epoch over 64 episodes (2 folds x 2 steps) leaves the estimator near its zero start; min_steps=60 makes
    the same single-epoch setting learn the deciding step, and a fit takes exactly that many optimiser steps."""
    torch.set_num_threads(1)
    policy, test = tiny_policy(), episodes(32, seed=1, prefix="test")
    r = np.array([float(ep.success) for ep in test])

    def gap(module):
        c = np.stack(module.contributions(test))
        return (c[r == 1].mean(0) - c[r == 0].mean(0))[1]

    one_epoch = spa(policy, alpha=1.0, beta=0.0, epochs=1)
    one_epoch.assign(episodes(64, seed=0, prefix="train"))
    steps = spa(policy, alpha=1.0, beta=0.0, epochs=1, min_steps=60)
    counted = []
    steps._ensure_estimators()
    for opt in steps.optimizers:
        opt.register_step_post_hook(lambda *_, counted=counted: counted.append(1))
    steps.assign(episodes(64, seed=0, prefix="train"))
    assert len(counted) == 2 * 60  # each fold's fit
    assert gap(one_epoch) < 0.3 < 0.8 < gap(steps)

def test_grounding_and_released_code_rewards():
    policy = tiny_policy()
    batch = episodes(4, seed=0, prefix="e", valid_last=False)
    for ep in batch:
        ep.group_id = "g"
    out = spa(policy, released_code_rewards=True, beta=0.5).assign(batch)
    # R = [1, 1, 0, 0]: leave-one-out centred outcome 1 - 1/3 = 2/3 or 0 - 2/3; the last turn counts as grounded.
    np.testing.assert_allclose(out.step_rewards[0], [2 / 3 + 0.5] * 3)
    np.testing.assert_allclose(out.step_rewards[2], [-2 / 3 + 0.5] * 3)
    paper = spa(policy, epochs=1, alpha=0.0, beta=0.5, grounding="bonus").assign(batch)
    np.testing.assert_allclose(paper.step_rewards[0], [0.5, 0.5, 0.0])  # invalid last action: no grounding
    penalty = spa(policy, epochs=1, alpha=0.0, beta=0.5).assign(batch)  # default: no per-step bonus
    np.testing.assert_allclose(penalty.step_rewards[0], [0.0, 0.0, -0.5])


def test_frozen_schedule_logits_head_and_state_round_trip(tmp_path):
    policy = tiny_policy()
    module = spa(policy, epochs=2, refit="frozen", fit_iterations=1, head="logits")
    module.context.run_dir = tmp_path
    first = module.assign(episodes(8, seed=0, prefix="a"))
    second = module.assign(episodes(8, seed=1, prefix="b"))
    assert "estimator_loss" in first.metrics and "estimator_loss" not in second.metrics
    assert (tmp_path / "credit" / "spa" / "estimator.pt").exists()
    reused = spa(policy, refit="frozen", fit_iterations=1, head="logits",
                 estimator_path=str(tmp_path / "credit" / "spa"))
    probe = episodes(6, seed=2, prefix="a")  # same ids as fitted ones: same folds, same estimators
    np.testing.assert_allclose(np.stack(reused.assign(probe).step_rewards), np.stack(module.assign(probe).step_rewards),
                               atol=1e-5)
    restored = spa(policy, head="logits")
    restored.load_state_dict(module.state_dict())
    np.testing.assert_allclose(np.stack(restored.contributions(probe)), np.stack(module.contributions(probe)), atol=1e-5)


def test_estimator_from_a_model_folder(tmp_path):
    policy = tiny_policy()
    policy.model.save_pretrained(tmp_path / "est")
    module = spa(policy, estimator=str(tmp_path / "est"), epochs=1)
    out = module.assign(episodes(4, seed=0, prefix="e"))
    assert "estimator_loss" in out.metrics and module.estimators[0].backbone is not policy.model
    small = tiny_policy()
    small.model.resize_token_embeddings(8)
    small.model.save_pretrained(tmp_path / "small")
    with pytest.raises(ConfigError, match="vocab 8, smaller than the policy's 24"):
        spa(policy, estimator=str(tmp_path / "small")).assign(episodes(2, 0, "x"))


def test_errors_are_one_line():
    with pytest.raises(ConfigError, match="spa: needs the acting policy"):
        credit.get("spa")().assign(episodes(2, 0, "x"))
    with pytest.raises(ConfigError, match="folds"):
        credit.get("spa").Config.build({"folds": 0})
    with pytest.raises(ConfigError, match="cannot be loaded"):
        spa(tiny_policy(), estimator="/nonexistent/model").assign(episodes(2, 0, "x"))
