"""Advantages: episodes plus the credit modules' signals in, one advantage per step out.

Each credit module declares how its numbers reach the learner (`CreditModule.signal`, credit/base.py), and this
file is the one place that applies those rules (credit/README.md has the table):

1. **The reward the estimator works on** (`estimated_rewards`). The env reward r_env (invalid-action penalty
   included), unless a module makes it dense:
   - *redistribution* (SPA, LaRe), `combine="replace"` (the papers): r_t = sum_m w_m * r̂_m replaces r_env, so the
     outcome is counted once, through the module's redistribution of it (`exact_sum`: the residual
     sum_t r_env - sum_t r_t is added to the last step); `combine="add"`: r_env + w * r̂;
   - *intrinsic* (ONI): r_t += w * r_int (ONI's numbers already carry its extrinsic rescaling).
2. **The estimator** on that reward:
   - `returns`: discounted returns-to-go G_t = sum_k gamma^k r_{t+k}, whitened over the batch (no critic);
   - `gae`: GAE(gamma, lambda) with the value head's estimates in `Step.value` (PPO with a critic);
   - `grpo`, `rloo`, `reinforce++`: on the env reward alone, the episode-level group-relative advantage A^E of the
     outcome R_i (GRPO: (R - mean_g) / std_g; RLOO: n/(n-1) (R - mean_g); REINFORCE++: R - mean_g, then batch
     whitening), broadcast to every step. Once a module makes the reward dense, the same group baseline is taken
     over the discounted returns-to-go G_t of all the group's steps, so each action is credited with what follows
     it rather than with the whole episode.
3. **Step-advantage terms** (OPRL, GiGPO; a redistribution module with `combine="advantage"`): A = A + w * A^S.
   A `kind="advantage"` output (GiGPO) is A^S as it is; a `kind="reward"` output (OPRL) is normalised within the
   group, over all steps of all its trajectories, the way the estimator normalises outcomes (research note
   spa_oprl.md §2.2(3): the intended baseline, not the released code's one-random-step mean); for `returns` and
   `gae` it is group-centred and batch-whitened like their own advantages.

w is always the credit spec's weight (`--credit oprl:0.1`): there is no second weight.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from credit.base import Combine, SignalRule
from credo.trajectory import Episode, discounted_returns, group_indices

EPS = 1e-6
Arrays = list[np.ndarray]
EstimatorName = Literal["grpo", "rloo", "reinforce++", "returns", "gae"]
"""The estimators by the name used in `TrainConfig.advantage`."""
ESTIMATORS: tuple[str, ...] = ("grpo", "rloo", "reinforce++", "returns", "gae")
GROUP_ESTIMATORS = ("grpo", "rloo")
"""Estimators whose baseline is the other members of a group: they need group_size >= 2."""


@dataclass
class CreditSignal:
    """One module's weighted per-step numbers, as they reach the estimator."""

    name: str
    rule: SignalRule
    weight: float
    values: Arrays
    """One float array per episode, of that episode's length (unweighted)."""
    kind: Literal["reward", "advantage"] = "reward"
    combine: Combine = "replace"
    """Redistribution modules only: replace / add to the env reward, or enter as a step advantage."""
    exact_sum: bool = False
    """Redistribution with replace: the residual env return - sum of the signal goes on the last step."""

    @property
    def dense(self) -> bool:
        """The signal changes the reward the estimator discounts (rather than adding a step advantage)."""
        return self.rule == "intrinsic" or (self.rule == "redistribution" and self.combine != "advantage")

    @property
    def replaces(self) -> bool:
        """The signal replaces the env reward (a redistribution with combine="replace")."""
        return self.rule == "redistribution" and self.combine == "replace"

    @property
    def step_term(self) -> bool:
        """The signal enters as w * A^S on top of the estimator's advantage."""
        return self.rule == "step_advantage" or (self.rule == "redistribution" and self.combine == "advantage")


@dataclass
class Advantages:
    """What `compute` returns."""

    per_episode: Arrays
    """One advantage per step, per episode."""
    value_targets: Arrays | None = None
    """gae only: the value head's regression targets (the lambda-returns)."""
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def flat(self) -> np.ndarray:
        """All steps' advantages in batch order (episode by episode)."""
        return np.concatenate(self.per_episode) if self.per_episode else np.zeros(0)


def _check(episodes: Sequence[Episode], values: Arrays, name: str) -> Arrays:
    if len(values) != len(episodes) or any(len(v) != ep.length for v, ep in zip(values, episodes, strict=True)):
        raise ValueError(f"credit {name!r}: need one array per episode, of that episode's length")
    return [np.asarray(v, dtype=np.float64) for v in values]


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
        flat = np.concatenate([values[i] for i in idx])
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


def _relative(episodes: Sequence[Episode], values: Arrays, estimator: str, std_norm: bool) -> Arrays:
    """The estimator's own normalisation of per-step values: its group baseline, or batch whitening."""
    if estimator == "grpo":
        return _group_normalise(episodes, values, "mean_std" if std_norm else "mean")
    if estimator == "rloo":
        return _group_normalise(episodes, values, "loo")
    return _whiten(_group_normalise(episodes, values, "mean"))  # reinforce++, and step terms for returns / gae


def env_rewards(episodes: Sequence[Episode]) -> Arrays:
    """Each step's env reward (the rollout's invalid-action penalty included)."""
    return [np.array([s.reward for s in ep.steps], dtype=np.float64) for ep in episodes]


def estimated_rewards(episodes: Sequence[Episode], signals: Sequence[CreditSignal]) -> tuple[Arrays, bool]:
    """The per-step reward the estimator works on, and whether a module made it dense (rule 1 above)."""
    env = env_rewards(episodes)
    replacing = [s for s in signals if s.replaces]
    adding = [s for s in signals if s.dense and not s.replaces]
    if not replacing and not adding:
        return env, False
    rewards = env
    if replacing:
        rewards = [np.zeros(ep.length) for ep in episodes]
        for s in replacing:
            rewards = [r + s.weight * v for r, v in zip(rewards, _check(episodes, s.values, s.name), strict=True)]
        if any(s.exact_sum for s in replacing):
            for r, e in zip(rewards, env, strict=True):
                if len(r):  # the redistributed reward now sums to what the episode earned
                    r[-1] += e.sum() - r.sum()
    for s in adding:
        rewards = [r + s.weight * v for r, v in zip(rewards, _check(episodes, s.values, s.name), strict=True)]
    return rewards, True


def episode_advantages(episodes: Sequence[Episode], estimator: str, std_norm: bool = True) -> Arrays:
    """A^E of the outcome R_i (the episode's summed env reward), broadcast to its steps: GRPO (R - mean_g) / std_g
    (`std_norm=False`: mean only, Dr.GRPO style), RLOO n/(n-1) (R - mean_g) (0 for a lone trajectory), REINFORCE++
    R - mean_g then whitened over the batch. Group statistics run over trajectories, not steps."""
    totals = np.array([ep.total_reward for ep in episodes], dtype=np.float64)
    out = np.zeros(len(episodes))
    for idx in group_indices(episodes).values():
        r, n = totals[idx], len(idx)
        if estimator == "grpo":
            out[idx] = (r - r.mean()) / (r.std() + EPS) if std_norm else r - r.mean()
        elif estimator == "rloo":
            out[idx] = (r - r.mean()) * n / (n - 1) if n > 1 else 0.0
        else:
            out[idx] = r - r.mean()
    broadcast = [np.full(ep.length, float(a)) for ep, a in zip(episodes, out, strict=True)]
    return _whiten(broadcast) if estimator == "reinforce++" else broadcast


def gae(episodes: Sequence[Episode], rewards: Arrays, gamma: float, lam: float) -> Arrays:
    """Un-whitened GAE(gamma, lambda) with the value head's estimates in `Step.value`.

    delta_t = r_t + gamma * V_{t+1} - V_t, where V after the last step is 0 when the episode terminated and the
    last value estimate when it was truncated.
    """
    out = []
    for ep, r in zip(episodes, rewards, strict=True):
        v = np.array([s.value for s in ep.steps], dtype=np.float64)
        nxt = np.append(v[1:], v[-1] if (ep.truncated and len(v)) else 0.0)
        out.append(discounted_returns(r + gamma * nxt - v, gamma * lam))
    return out


def compute(episodes: Sequence[Episode], signals: Sequence[CreditSignal] = (), estimator: str = "returns",
            gamma: float = 0.99, lam: float = 0.95, grpo_std_norm: bool = True) -> Advantages:
    """Per-step advantages of a batch under the rules of the module docstring.

    `returns` is what made a from-scratch tiny model learn MiniHack Room fastest (research/calibration.md):
    earlier, shorter paths get larger returns. A truncated episode is not bootstrapped there (its tail counts 0);
    `gae` bootstraps it from the value head, whose estimates the caller puts in `Step.value` first.
    """
    if estimator not in ESTIMATORS:
        raise ValueError(f"unknown advantage estimator {estimator!r}; known: {', '.join(ESTIMATORS)}")
    rewards, dense = estimated_rewards(episodes, signals)
    targets = None
    if estimator == "gae":
        raw = gae(episodes, rewards, gamma, lam)
        targets = [a + np.array([s.value for s in ep.steps]) for a, ep in zip(raw, episodes, strict=True)]
        base = _whiten(raw)
    elif estimator == "returns":
        base = _whiten([discounted_returns(r, gamma) for r in rewards])
    elif dense:
        base = _relative(episodes, [discounted_returns(r, gamma) for r in rewards], estimator, grpo_std_norm)
    else:
        base = episode_advantages(episodes, estimator, grpo_std_norm)
    total = base
    steps_sum: Arrays | None = None
    for s in signals:
        if not s.step_term:
            continue
        values = _check(episodes, s.values, s.name)
        term = values if s.kind == "advantage" else _relative(episodes, values, estimator, grpo_std_norm)
        weighted = [s.weight * t for t in term]
        steps_sum = weighted if steps_sum is None else [a + b for a, b in zip(steps_sum, weighted, strict=True)]
        total = [a + b for a, b in zip(total, weighted, strict=True)]
    metrics: dict[str, float] = {}
    if steps_sum is not None and episodes:
        # How much of the advantage the step terms carry: a collapse indicator (a step term that dwarfs the
        # outcome's advantage trains the policy on the credit model alone).
        metrics["advantage_step_share"] = float(np.std(np.concatenate(steps_sum)) /
                                                (np.std(np.concatenate(base)) + EPS))
    return Advantages(total, targets, metrics)
