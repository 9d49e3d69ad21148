"""The oracle solves every sampled goal; random admissible actions score far lower."""

from __future__ import annotations

import numpy as np
import pytest

from envs.webshop.env import WebShopEnv


def play(env: WebShopEnv, seeds, policy) -> tuple[float, float, float]:
    """(success rate, mean reward, mean length) of `policy(env, info) -> action` over resets with `seeds`."""
    successes, rewards, lengths = [], [], []
    for seed in seeds:
        _, info = env.reset(seed=int(seed))
        steps, done, reward = 0, False, 0.0
        while not done:
            _, reward, term, trunc, info = env.step(policy(env, info))
            assert info["valid_action"] or policy is not oracle, "the oracle took an invalid action"
            steps, done = steps + 1, term or trunc
        successes.append(info["success"])
        rewards.append(reward)
        lengths.append(steps)
    return float(np.mean(successes)), float(np.mean(rewards)), float(np.mean(lengths))


def oracle(env: WebShopEnv, info: dict) -> str:
    return env.expert_action()


def random_policy(rng: np.random.Generator):
    return lambda env, info: info["admissible_actions"][rng.integers(len(info["admissible_actions"]))]


def compare(num_goals: int, item_names: bool = False) -> None:
    env = WebShopEnv(num_products=1000, max_steps=15, split="all", item_names=item_names)
    seeds = np.random.default_rng(0).choice(10**6, num_goals, replace=False)
    o_success, o_reward, o_len = play(env, seeds, oracle)
    r_success, r_reward, _ = play(env, seeds, random_policy(np.random.default_rng(1)))
    print(f"\noracle: success {o_success:.3f}, mean reward {o_reward:.3f}, mean length {o_len:.1f} | "
          f"random admissible: success {r_success:.3f}, mean reward {r_reward:.3f}  ({num_goals} goals)")
    assert o_success == 1.0 and o_reward == 1.0 and o_len <= 10
    assert r_success < 0.1 and r_reward < 0.4


def test_oracle_solves_1000_goals_random_scores_far_lower():
    compare(1000)  # about 10 s on one core


def test_oracle_clicks_results_by_title_with_item_names():
    compare(300, item_names=True)
    env = WebShopEnv(num_products=1000, item_names=True)
    _, info = env.reset(seed=4)
    env.step(info["admissible_actions"][0])
    action = env.expert_action()
    target = env.catalog[env.goal.product_index]
    assert action == f"click[item - {target.name.lower()}]"
    assert env.step(action)[4]["state"]["asin"] == target.asin


def test_oracle_recovers_from_any_page():
    env = WebShopEnv(num_products=1000)
    env.reset(seed=9)
    env.step("search[zzzz qqqq]")  # no results: the oracle searches again
    env.step("search[floor lamp]")  # probably the wrong product type: it navigates back
    env.step("click[not a button]")  # an invalid click on the way
    for _ in range(14):
        _, reward, term, trunc, info = env.step(env.expert_action())
        if term or trunc:
            break
    assert info["success"], info["state"]
    with pytest.raises(ValueError, match="episode is over"):
        env.expert_action()
