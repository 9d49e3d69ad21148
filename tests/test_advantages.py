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


def sig(name: str, rule: str, values, weight: float = 1.0, kind: str = "reward", combine: str = "replace"):
    return A.CreditSignal(name, rule, weight, [np.asarray(v, dtype=float) for v in values], kind, combine)


def test_grpo_normalises_outcomes_within_groups_and_broadcasts():
    eps = [ep("a", [0, 1]), ep("a", [0, 0, 0]), ep("b", [5]), ep("b", [5])]
    adv = A.compute(eps, estimator="grpo").per_episode
    assert np.allclose(adv[0], [1, 1], atol=1e-4) and np.allclose(adv[1], [-1, -1, -1], atol=1e-4)
    assert np.allclose(adv[2], 0) and np.allclose(adv[3], 0)  # no signal when all members agree
    assert np.allclose(A.compute(eps, estimator="grpo", grpo_std_norm=False).per_episode[0], [0.5, 0.5])


def test_rloo_is_outcome_minus_mean_of_the_others():
    eps = [ep("a", [1]), ep("a", [0]), ep("a", [0]), ep("z", [3])]
    adv = A.compute(eps, estimator="rloo").per_episode
    assert np.allclose([adv[i][0] for i in range(3)], [1.0, -0.5, -0.5])
    assert np.allclose(adv[3], 0)  # a lone trajectory has no baseline


def test_reinforce_pp_is_group_centred_then_batch_whitened():
    eps = [ep("a", [1, 0]), ep("a", [0]), ep("b", [2]), ep("b", [0, 0])]
    flat = A.compute(eps, estimator="reinforce++").flat
    assert abs(flat.mean()) < 1e-6 and abs(flat.std() - 1) < 1e-4
    assert flat[0] == flat[1] > 0 > flat[2]


def test_step_advantage_is_episode_term_plus_w_times_group_normalised_step_term():
    eps = [ep("a", [0, 1]), ep("a", [0, 0])]
    step = [[1.0, 3.0], [0.0, 0.0]]
    base = A.compute(eps, estimator="rloo").per_episode
    out = A.compute(eps, [sig("oprl", "step_advantage", step, weight=0.5)], estimator="rloo")
    # group mean over all 4 steps = 1.0; n/(n-1) = 2
    expected_s = [2 * (np.array([1.0, 3.0]) - 1.0), 2 * (np.array([0.0, 0.0]) - 1.0)]
    for b, w, s in zip(base, out.per_episode, expected_s, strict=True):
        assert np.allclose(w, b + 0.5 * s)
    assert out.metrics["advantage_step_share"] > 0
    g = A.compute(eps, [sig("oprl", "step_advantage", step)], estimator="grpo").flat
    flat = np.array([1.0, 3.0, 0.0, 0.0])
    assert np.allclose(g - A.compute(eps, estimator="grpo").flat, (flat - 1.0) / (flat.std() + A.EPS))
    # an advantage-kind output (GiGPO) is used as it is, times the spec weight only
    adv_kind = A.compute(eps, [sig("gigpo", "step_advantage", step, weight=0.5, kind="advantage")], estimator="grpo")
    assert np.allclose(adv_kind.flat - A.compute(eps, estimator="grpo").flat, 0.5 * flat)
    with pytest.raises(ValueError, match="one array per episode"):
        A.compute(eps, [sig("oprl", "step_advantage", [[0.0], [0.0, 0.0]])], estimator="grpo")


def test_a_redistributed_reward_credits_an_early_action_for_a_later_reward():
    """SPA/LaRe: the module's reward replaces the env reward and the estimator credits each action with the
    discounted return that follows it, so a step whose own reward is 0 is credited for what comes after it."""
    eps = [ep("g", [0, 0, 0]), ep("g", [0, 0, 0])]  # no env reward: the only signal is the module's
    redistributed = [[0.0, 0.0, 1.0], [0.0, 0.0, 0.0]]  # credit on the last step of the first episode
    for estimator in ("rloo", "grpo", "reinforce++", "returns"):
        a = A.compute(eps, [sig("spa", "redistribution", redistributed)], estimator=estimator, gamma=0.9).per_episode
        assert a[0][0] > a[1][0], estimator  # the first action is credited for the reward two steps later
        assert a[0][0] > 0 > a[1][0], estimator
    # the former wiring (an immediate, group-centred step advantage) gave both first actions the same credit
    old = A.compute(eps, [sig("spa", "redistribution", redistributed, combine="advantage")], estimator="rloo")
    assert np.isclose(old.per_episode[0][0], old.per_episode[1][0])


def test_the_outcome_is_counted_once_under_redistribution():
    """Replace: the estimator sees only the module's reward, so the env outcome does not enter twice."""
    eps = [ep("g", [0, 1]), ep("g", [0, 0])]
    spa = [[0.5, 0.5], [0.0, 0.0]]  # contributions summing to the outcome
    replaced = A.compute(eps, [sig("spa", "redistribution", spa)], estimator="returns", gamma=1.0)
    assert np.allclose(A.estimated_rewards(eps, [sig("spa", "redistribution", spa)])[0][0], [0.5, 0.5])
    added, _ = A.estimated_rewards(eps, [sig("spa", "redistribution", spa, combine="add")])
    assert np.allclose(added[0], [0.5, 1.5])  # combine=add: env reward + module reward (outcome twice)
    # returns-to-go of the replaced reward: [1.0, 0.5] for the success, [0, 0] for the failure
    g = np.array([1.0, 0.5, 0.0, 0.0])
    assert np.allclose(replaced.flat, (g - g.mean()) / (g.std() + A.EPS))


def test_exact_sum_puts_the_residual_on_the_last_step():
    eps = [ep("g", [0, 0, 1]), ep("g", [0, 0])]
    bad = [[0.5, 0.1, 0.1], [0.3, 0.3]]  # an inaccurate estimator: sums 0.7 and 0.6 for outcomes 1 and 0
    exact = A.CreditSignal("spa", "redistribution", 1.0, [np.array(v) for v in bad], exact_sum=True)
    rewards, _ = A.estimated_rewards(eps, [exact, sig("oni", "intrinsic", [[0, 0, 0], [1, 0]])])
    assert np.allclose(rewards[0], [0.5, 0.1, 0.4]) and np.allclose(rewards[1], [1.3, -0.3])  # oni added on top


def test_intrinsic_rewards_are_added_and_make_group_estimators_use_returns_to_go():
    eps = [ep("g", [0, 0]), ep("g", [0, 0])]
    oni = [[1.0, 0.0], [0.0, 0.0]]  # a helpful message on the first step of the first episode
    rewards, dense = A.estimated_rewards(eps, [sig("oni", "intrinsic", oni, weight=0.5)])
    assert dense and np.allclose(rewards[0], [0.5, 0.0])
    adv = A.compute(eps, [sig("oni", "intrinsic", oni)], estimator="rloo", gamma=1.0).per_episode
    # returns-to-go [1, 0] vs [0, 0]; group mean 0.25 over the four steps; n/(n-1) = 2
    assert np.allclose(adv[0], [1.5, -0.5]) and np.allclose(adv[1], [-0.5, -0.5])


def test_returns_discount_then_whiten_and_favour_short_successes():
    eps = [ep("a", [0, 0, 1]), ep("b", [0, 1]), ep("c", [0, 0, 0])]
    raw = [discounted_returns(np.array([s.reward for s in e.steps]), 0.9) for e in eps]
    assert np.allclose(raw[0], [0.81, 0.9, 1.0])
    adv = A.compute(eps, estimator="returns", gamma=0.9).per_episode
    flat = np.concatenate(adv)
    assert abs(flat.mean()) < 1e-6 and abs(flat.std() - 1) < 1e-4
    assert adv[1][0] > adv[0][0] > adv[2][0]  # the shorter path's first step is credited more


def test_gae_matches_td_lambda_by_hand():
    e = ep("a", [0.0, 1.0], values=[0.5, 0.2])
    (adv,) = A.gae([e], A.env_rewards([e]), gamma=0.9, lam=0.8)
    d1 = 1.0 + 0.0 - 0.2  # terminated: no bootstrap after the last step
    d0 = 0.0 + 0.9 * 0.2 - 0.5
    assert np.allclose(adv, [d0 + 0.9 * 0.8 * d1, d1])
    (targets,) = A.compute([e], estimator="gae", gamma=0.9, lam=0.8).value_targets
    assert np.allclose(targets, adv + np.array([0.5, 0.2]))
    t = ep("a", [0.0, 0.0], truncated=True, values=[0.5, 0.2])
    (adv_t,) = A.gae([t], A.env_rewards([t]), gamma=0.9, lam=1.0)
    assert np.isclose(adv_t[1], 0.9 * 0.2 - 0.2)  # truncated: bootstraps from the last value
    # with zero values and lambda 1, GAE is the discounted return
    z = ep("a", [0, 0, 1])
    assert np.allclose(A.gae([z], A.env_rewards([z]), gamma=0.9, lam=1.0)[0], [0.81, 0.9, 1.0])


def test_every_estimator_is_known_by_name():
    assert set(A.ESTIMATORS) == {"grpo", "rloo", "reinforce++", "returns", "gae"}
    with pytest.raises(ValueError, match="unknown advantage estimator"):
        A.compute([], estimator="ppo")
