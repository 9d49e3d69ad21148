"""Advantage estimators on hand-made episodes: each formula checked against numbers worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from agents import advantages as A
from credo.trajectory import Episode, Step, discounted_returns


def ep(group: str, rewards: list[float], truncated: bool = False, values: list[float] | None = None) -> Episode:
    e = Episode(f"e{id(rewards)}", group, "env", 0, "")
    for t, r in enumerate(rewards):
        e.steps.append(Step(e.episode_id, group, t, "", [1], [2], "a", 0.0, reward=r,
                            value=values[t] if values else 0.0))
    e.truncated = truncated
    return e


def test_grpo_normalises_outcomes_within_groups_and_broadcasts():
    eps = [ep("a", [0, 1]), ep("a", [0, 0, 0]), ep("b", [5]), ep("b", [5])]
    adv = A.grpo(eps)
    assert np.allclose(adv[0], [1, 1], atol=1e-4) and np.allclose(adv[1], [-1, -1, -1], atol=1e-4)
    assert np.allclose(adv[2], 0) and np.allclose(adv[3], 0)  # no signal when all members agree
    assert np.allclose(A.grpo(eps, std_norm=False)[0], [0.5, 0.5])


def test_rloo_is_outcome_minus_mean_of_the_others():
    eps = [ep("a", [1]), ep("a", [0]), ep("a", [0]), ep("z", [3])]
    adv = A.rloo(eps)
    assert np.allclose([adv[i][0] for i in range(3)], [1.0, -0.5, -0.5])
    assert np.allclose(adv[3], 0)  # a lone trajectory has no baseline


def test_reinforce_pp_is_group_centred_then_batch_whitened():
    eps = [ep("a", [1, 0]), ep("a", [0]), ep("b", [2]), ep("b", [0, 0])]
    flat = np.concatenate(A.reinforce_pp(eps))
    assert abs(flat.mean()) < 1e-6 and abs(flat.std() - 1) < 1e-4
    assert flat[0] == flat[1] > 0 > flat[2]


def test_step_rewards_combine_as_episode_plus_weighted_group_normalised_step_term():
    eps = [ep("a", [0, 1]), ep("a", [0, 0])]
    step = [np.array([1.0, 3.0]), np.array([0.0, 0.0])]
    base = A.rloo(eps)
    with_steps = A.rloo(eps, step, weight=0.5)
    # group mean over all 4 steps = 1.0; n/(n-1) = 2
    expected_s = [2 * (np.array([1.0, 3.0]) - 1.0), 2 * (np.array([0.0, 0.0]) - 1.0)]
    for b, w, s in zip(base, with_steps, expected_s, strict=True):
        assert np.allclose(w, b + 0.5 * s)
    g = A.grpo(eps, step, weight=1.0)
    flat = np.array([1.0, 3.0, 0.0, 0.0])
    assert np.allclose(np.concatenate(g) - np.concatenate(A.grpo(eps)), (flat - 1.0) / (flat.std() + A.EPS))
    # an advantage-kind credit output (GiGPO) is used as it is
    adv_kind = A.grpo(eps, step, weight=2.0, kind="advantage")
    assert np.allclose(np.concatenate(adv_kind) - np.concatenate(A.grpo(eps)), 2.0 * np.array([1.0, 3.0, 0, 0]))
    with pytest.raises(ValueError, match="one array per episode"):
        A.grpo(eps, [np.zeros(1), np.zeros(2)])


def test_returns_discount_then_whiten_and_favour_short_successes():
    eps = [ep("a", [0, 0, 1]), ep("b", [0, 1]), ep("c", [0, 0, 0])]
    raw = [discounted_returns(np.array([s.reward for s in e.steps]), 0.9) for e in eps]
    assert np.allclose(raw[0], [0.81, 0.9, 1.0])
    adv = A.returns(eps, gamma=0.9)
    flat = np.concatenate(adv)
    assert abs(flat.mean()) < 1e-6 and abs(flat.std() - 1) < 1e-4
    assert adv[1][0] > adv[0][0] > adv[2][0]  # the shorter path's first step is credited more
    dense = A.returns(eps, [np.array([1.0, 0, 0]), np.zeros(2), np.zeros(3)], weight=1.0, gamma=0.9)
    assert dense[0][0] > adv[0][0]
    with pytest.raises(ValueError, match="episode-level estimator"):
        A.returns(eps, [np.zeros(3), np.zeros(2), np.zeros(3)], kind="advantage")


def test_gae_matches_td_lambda_by_hand():
    e = ep("a", [0.0, 1.0], values=[0.5, 0.2])
    (adv,) = A.gae([e], gamma=0.9, lam=0.8, whiten=False)
    d1 = 1.0 + 0.0 - 0.2  # terminated: no bootstrap after the last step
    d0 = 0.0 + 0.9 * 0.2 - 0.5
    assert np.allclose(adv, [d0 + 0.9 * 0.8 * d1, d1])
    (targets,) = A.gae_targets([e], gamma=0.9, lam=0.8)
    assert np.allclose(targets, adv + np.array([0.5, 0.2]))
    t = ep("a", [0.0, 0.0], truncated=True, values=[0.5, 0.2])
    (adv_t,) = A.gae([t], gamma=0.9, lam=1.0, whiten=False)
    assert np.isclose(adv_t[1], 0.9 * 0.2 - 0.2)  # truncated: bootstraps from the last value
    # with zero values and lambda 1, GAE is the discounted return
    z = ep("a", [0, 0, 1])
    assert np.allclose(A.gae([z], gamma=0.9, lam=1.0, whiten=False)[0], [0.81, 0.9, 1.0])


def test_every_estimator_is_registered_by_name():
    assert set(A.ESTIMATORS) == {"grpo", "rloo", "reinforce++", "returns", "gae"}
