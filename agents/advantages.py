"""Advantage estimators: episodes (+ optional per-step credit) in, one advantage per step out.

Each estimator is a named function `f(episodes, step_rewards=None, weight=1.0, kind="reward", **options)`
returning one float array per episode. Episode-level and step-level signals combine as in iStar
(research/spa_oprl.md §2.1(6)):

    A_{i,t} = A^E_i + w * A^S_{i,t}

- A^E is the estimator's episode-level advantage of the outcome R_i (the episode return, i.e. the sum of env
  rewards, invalid-action penalties included).
- A^S comes from the credit modules' step rewards r_{i,t}, normalised *within the group* over all steps of
  all its trajectories, the same way the estimator normalises outcomes (research note §2.2(3): the intended
  baseline, not the released code's one-random-step mean).
- A credit output of `kind="advantage"` (GiGPO) is already a step-level advantage: it is used as A^S as is.

`returns` and `gae` are per-step estimators already: there the step rewards are added to the env rewards
(r_t + w * r^S_t) before discounting, which is how a critic or a return propagates a dense reward.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np

from credo.trajectory import Episode, discounted_returns, group_indices

EPS = 1e-6
Arrays = list[np.ndarray]


def _outcomes(episodes: Sequence[Episode]) -> np.ndarray:
    return np.array([ep.total_reward for ep in episodes], dtype=np.float64)


def _broadcast(episodes: Sequence[Episode], per_episode: np.ndarray) -> Arrays:
    return [np.full(ep.length, float(a)) for ep, a in zip(episodes, per_episode, strict=True)]


def _whiten(arrays: Arrays) -> Arrays:
    flat = np.concatenate(arrays) if arrays else np.zeros(0)
    if flat.size == 0:
        return arrays
    mu, sd = flat.mean(), flat.std()
    return [(a - mu) / (sd + EPS) for a in arrays]


def _group_normalise(episodes: Sequence[Episode], values: Arrays, mode: str) -> Arrays:
    """Normalise per-step (or broadcast per-episode) values within each group.

    mode: "mean_std" (GRPO: (x - mean_g) / std_g), "loo" (RLOO: n/(n-1) * (x - mean_g), n = trajectories in the
    group), "mean" (subtract mean_g). The group statistics run over all steps of all its trajectories.
    """
    out = [np.zeros_like(v, dtype=np.float64) for v in values]
    for idx in group_indices(episodes).values():
        flat = np.concatenate([values[i] for i in idx]) if idx else np.zeros(0)
        if flat.size == 0:
            continue
        mu = flat.mean()
        for i in idx:
            x = values[i] - mu
            if mode == "mean_std":
                x = x / (flat.std() + EPS)
            elif mode == "loo":
                n = len(idx)
                x = x * (n / (n - 1)) if n > 1 else np.zeros_like(x)
            out[i] = x
    return out


def _step_term(episodes: Sequence[Episode], step_rewards: Arrays | None, kind: str, mode: str,
               whiten: bool = False) -> Arrays | None:
    if step_rewards is None:
        return None
    if len(step_rewards) != len(episodes) or any(len(r) != ep.length for r, ep in zip(step_rewards, episodes, strict=True)):
        raise ValueError("step_rewards: need one array per episode, of that episode's length")
    arrays = [np.asarray(r, dtype=np.float64) for r in step_rewards]
    if kind == "advantage":
        return arrays
    out = _group_normalise(episodes, arrays, mode)
    return _whiten(out) if whiten else out


def _combine(episode_adv: Arrays, step_adv: Arrays | None, weight: float) -> Arrays:
    if step_adv is None:
        return episode_adv
    return [a + weight * s for a, s in zip(episode_adv, step_adv, strict=True)]


def grpo(episodes: Sequence[Episode], step_rewards: Arrays | None = None, weight: float = 1.0,
         kind: str = "reward", std_norm: bool = True) -> Arrays:
    """GRPO: A^E_i = (R_i - mean_g R) / std_g R (`std_norm=False`: mean only, Dr.GRPO style)."""
    mode = "mean_std" if std_norm else "mean"
    out = np.zeros(len(episodes))  # outcome statistics: one value per trajectory, not per step
    R = _outcomes(episodes)
    for idx in group_indices(episodes).values():
        r = R[idx]
        out[idx] = (r - r.mean()) / (r.std() + EPS) if std_norm else r - r.mean()
    return _combine(_broadcast(episodes, out), _step_term(episodes, step_rewards, kind, mode), weight)


def rloo(episodes: Sequence[Episode], step_rewards: Arrays | None = None, weight: float = 1.0,
         kind: str = "reward") -> Arrays:
    """RLOO: A^E_i = n/(n-1) (R_i - mean_g R) = R_i - mean of the other n-1 trajectories (0 for a lone one)."""
    out = np.zeros(len(episodes))
    R = _outcomes(episodes)
    for idx in group_indices(episodes).values():
        n = len(idx)
        r = R[idx]
        out[idx] = (r - r.mean()) * n / (n - 1) if n > 1 else 0.0
    return _combine(_broadcast(episodes, out), _step_term(episodes, step_rewards, kind, "loo"), weight)


def reinforce_pp(episodes: Sequence[Episode], step_rewards: Arrays | None = None, weight: float = 1.0,
                 kind: str = "reward") -> Arrays:
    """REINFORCE++ (with group baseline): subtract the group mean of R, then whiten over the whole batch.

    Applied separately to the episode and step terms, as iStar's `reinforce_plus_baseline` does.
    """
    R = _outcomes(episodes)
    centred = np.zeros(len(episodes))
    for idx in group_indices(episodes).values():
        centred[idx] = R[idx] - R[idx].mean()
    episode_adv = _whiten(_broadcast(episodes, centred))
    return _combine(episode_adv, _step_term(episodes, step_rewards, kind, "mean", whiten=True), weight)


def _dense_rewards(episodes: Sequence[Episode], step_rewards: Arrays | None, weight: float, kind: str) -> Arrays:
    if step_rewards is not None and kind == "advantage":
        raise ValueError("advantage-kind credit (e.g. gigpo) needs an episode-level estimator: grpo, rloo or "
                         "reinforce++")
    rewards = [np.array([s.reward for s in ep.steps], dtype=np.float64) for ep in episodes]
    if step_rewards is not None:
        _step_term(episodes, step_rewards, kind, "mean")  # validates shapes
        rewards = [r + weight * np.asarray(s, dtype=np.float64) for r, s in zip(rewards, step_rewards, strict=True)]
    return rewards


def returns(episodes: Sequence[Episode], step_rewards: Arrays | None = None, weight: float = 1.0,
            kind: str = "reward", gamma: float = 0.99) -> Arrays:
    """Per-step discounted returns-to-go, normalised (mean/std) over the batch; no critic.

    What made a from-scratch tiny model learn MiniHack Room fastest (research/calibration.md): earlier, shorter
    paths get larger returns, so it also rewards efficiency, which group-normalised outcomes do not.
    A truncated episode is not bootstrapped (its tail counts as 0).
    """
    rewards = _dense_rewards(episodes, step_rewards, weight, kind)
    return _whiten([discounted_returns(r, gamma) for r in rewards])


def gae(episodes: Sequence[Episode], step_rewards: Arrays | None = None, weight: float = 1.0,
        kind: str = "reward", gamma: float = 0.99, lam: float = 0.95,
        whiten: bool = True) -> Arrays:
    """GAE(gamma, lambda) with the value head's estimates in `Step.value` (PPO with a critic).

    delta_t = r_t + gamma * V_{t+1} - V_t, where V after the last step is 0 when the episode terminated and the
    last value estimate when it was truncated. The critic's targets are `gae_targets` (advantage + value).
    """
    rewards = _dense_rewards(episodes, step_rewards, weight, kind)
    out = []
    for ep, r in zip(episodes, rewards, strict=True):
        v = np.array([s.value for s in ep.steps], dtype=np.float64)
        nxt = np.append(v[1:], v[-1] if (ep.truncated and len(v)) else 0.0)
        delta = r + gamma * nxt - v
        out.append(discounted_returns(delta, gamma * lam))
    return _whiten(out) if whiten else out


def gae_targets(episodes: Sequence[Episode], step_rewards: Arrays | None = None, weight: float = 1.0,
                kind: str = "reward", gamma: float = 0.99, lam: float = 0.95) -> Arrays:
    """Value-head regression targets: un-whitened GAE advantage + the value estimate (the lambda-return)."""
    adv = gae(episodes, step_rewards, weight, kind, gamma, lam, whiten=False)
    return [a + np.array([s.value for s in ep.steps]) for a, ep in zip(adv, episodes, strict=True)]


Estimator = Callable[..., Arrays]
ESTIMATORS: dict[str, Estimator] = {"grpo": grpo, "rloo": rloo, "reinforce++": reinforce_pp, "returns": returns,
                                    "gae": gae}
"""Estimators by the name used in `TrainConfig.advantage`."""
EstimatorName = Literal["grpo", "rloo", "reinforce++", "returns", "gae"]
