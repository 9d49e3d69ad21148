"""`gigpo`: Group-in-Group Policy Optimization (Feng et al., NeurIPS 2025; verl-agent), the step-level baseline.

Two nested relative advantages, computed inside each group of episodes that share a task and seed:

- episode level: A^E_i = (R_i - mean_g R) / F, R the episode outcome: the learner's own estimator
  (`advantage=grpo`, `grpo_std_norm=false` for F = 1);
- step level (this module): steps whose observation is the same *anchor state* across the group's trajectories
  are compared on their discounted step returns R_t = sum_k gamma^k r_{t+k}: A^S = (R_t - mean_anchor R_t) / F;
- combined by the trainer: A_{i,t} = A^E_i + w * A^S_{i,t}, w the credit spec's weight (`--credit gigpo:0.5`),
  the paper's omega (`algorithm.gigpo.step_advantage_w` in verl-agent). It is the only weight.

F is 1 (`mean_norm`) or the anchor group's std + eps (`mean_std_norm`). The module returns `kind="advantage"`.
With no estimator or group size set, the trainer picks verl-agent's setting, `advantage=grpo group_size=8
grpo_std_norm=false`, and says so.

A step whose anchor group has a single member gets A^S = 0, in the paper and in verl-agent alike (only an
*episode* group of one gets verl-agent's mean 0 / std 1, i.e. its raw return; that is the estimator's business).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field
from rapidfuzz import fuzz

from credit._episodes import OutcomeSource, outcome
from credit.base import CreditModule, CreditOutput, register_credit
from credo.config import Config
from credo.trajectory import Episode, discounted_returns, group_indices


class GiGPOConfig(Config):
    """GiGPO's knobs (verl-agent names: `algorithm.gigpo.mode`, `similarity_thresh`; omega is the spec weight)."""

    gamma: float = Field(0.95, gt=0.0, le=1.0, description="Discount of the step returns compared within an anchor group (verl-agent: 0.95).")
    mode: Literal["mean_norm", "mean_std_norm"] = Field("mean_norm", description="mean_norm: subtract the group mean (F=1); mean_std_norm: also divide by the group std + epsilon.")
    similarity_thresh: float = Field(1.0, gt=0.0, le=1.0, description="Steps whose observations have similarity >= this (rapidfuzz ratio / 100) share an anchor group; 1.0 = identical text only (the paper).")
    outcome: OutcomeSource = Field("return", description="Step rewards whose discounted returns anchor groups compare: 'return' uses the env rewards; 'success'/'score' put that number on the last step.")
    epsilon: float = Field(1e-6, gt=0.0, description="Added to the std in mean_std_norm.")


def _step_rewards(ep: Episode, source: OutcomeSource) -> np.ndarray:
    """Per-step rewards consistent with the chosen outcome: env rewards, or the outcome on the last step."""
    if source == "return":
        return np.array([s.reward for s in ep.steps], dtype=np.float64)
    r = np.zeros(ep.length, dtype=np.float64)
    if ep.length:
        r[-1] = outcome(ep, source)
    return r


@register_credit("gigpo")
class GiGPO(CreditModule):
    """Episode-level plus anchor-state step-level group-relative advantages (no model to train)."""

    Config = GiGPOConfig
    config: GiGPOConfig
    signal = "step_advantage"
    requires_groups = True
    suggested = {"advantage": "grpo", "group_size": 8, "grpo_std_norm": False}

    def _normalise(self, values: np.ndarray) -> np.ndarray:
        """Relative returns within one anchor group (0 for a group of one: nothing to compare with)."""
        if len(values) == 1:
            return np.zeros(1)
        centred = values - values.mean()
        if self.config.mode == "mean_std_norm":
            centred = centred / (values.std(ddof=1) + self.config.epsilon)
        return centred

    def _anchor_groups(self, observations: list[str]) -> list[list[int]]:
        """Cluster step positions by identical (or, below threshold 1, similar) observation text."""
        thresh = self.config.similarity_thresh
        if thresh >= 1.0:
            exact: dict[str, list[int]] = {}
            for pos, obs in enumerate(observations):
                exact.setdefault(obs, []).append(pos)
            return list(exact.values())
        clusters: list[tuple[str, list[int]]] = []
        for pos, obs in enumerate(observations):
            for rep, members in clusters:
                if fuzz.ratio(obs, rep) / 100.0 >= thresh:
                    members.append(pos)
                    break
            else:
                clusters.append((obs, [pos]))
        return [members for _, members in clusters]

    def assign(self, episodes: list[Episode]) -> CreditOutput:
        cfg = self.config
        advantages = [np.zeros(ep.length, dtype=np.float64) for ep in episodes]
        anchor_sizes: list[int] = []
        step_abs: list[float] = []
        for members in group_indices(episodes).values():
            # Flatten the group's steps, then compare steps that share an anchor observation.
            where: list[tuple[int, int]] = []
            observations: list[str] = []
            returns: list[float] = []
            for i in members:
                ret = discounted_returns(_step_rewards(episodes[i], cfg.outcome), cfg.gamma)
                for t, step in enumerate(episodes[i].steps):
                    where.append((i, t))
                    observations.append(step.observation)
                    returns.append(ret[t])
            step_adv = np.zeros(len(where))
            returns_arr = np.array(returns, dtype=np.float64)
            for anchor in self._anchor_groups(observations):
                step_adv[anchor] = self._normalise(returns_arr[anchor])
                anchor_sizes.append(len(anchor))
            for (i, t), a in zip(where, step_adv, strict=True):
                advantages[i][t] = a
                step_abs.append(abs(a))
        metrics = {
            "anchor_group_size": float(np.mean(anchor_sizes)) if anchor_sizes else 0.0,
            "anchored_step_frac": float(sum(n for n in anchor_sizes if n > 1) / max(1, sum(anchor_sizes))),
            "step_adv_abs": float(np.mean(step_abs)) if step_abs else 0.0,
        }
        return CreditOutput(advantages, metrics=metrics, kind="advantage")
