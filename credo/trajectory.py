"""What a rollout records: one `Step` per env step, grouped into `Episode`s (DESIGN.md, "Trajectories").

Training uses one sample per step: the prompt the policy saw (rebuilt from the instruction plus a bounded
history window) and the action tokens it produced. Token ids and log-probs are kept exactly as sampled,
so nothing is re-tokenised between acting and learning, and a step-level signal from a credit module
lands on exactly that step's action tokens.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np


@dataclass
class Step:
    """One env step as the policy took it."""

    episode_id: str
    """Unique id of the episode this step belongs to."""
    group_id: str
    """Episodes with the same task and seed share a group (GRPO/RLOO baselines, OPRL pairs, GiGPO anchors)."""
    step_index: int
    """0-based position of the step in its episode."""
    observation: str
    """The text observation at which the action was taken."""
    prompt_ids: list[int]
    """Token ids of the prompt the policy saw (instruction + history window + observation)."""
    action_ids: list[int]
    """Token ids of the action as sampled (choose mode: the chosen candidate's tokens, terminator included)."""
    action_text: str
    """The action sent to the env."""
    logprob: float
    """Log-probability of the action under the acting policy's action distribution: the sum of
    `token_logprobs` in generate mode; the log-softmax over candidates in choose mode."""
    token_logprobs: list[float] = field(default_factory=list)
    """Per-token log-probs of `action_ids` given the prompt under the acting policy (empty when choose mode scores
    candidates with a head: no token is predicted)."""
    candidates: list[str] | None = None
    """Choose mode: the admissible actions that were scored (the action is one of them); None in generate mode."""
    candidate_logprobs: list[float] | None = None
    """Choose mode: each candidate's log-prob under the acting policy, in `candidates` order."""
    generated_text: str = ""
    """Generate mode: the policy's whole reply, which `action_text` was parsed from; '' in choose mode."""
    reward: float = 0.0
    """Env reward received after the action."""
    valid_action: bool = True
    """`info["valid_action"]` after the action (False also when the policy's text did not parse)."""
    state: dict[str, Any] = field(default_factory=dict)
    """`info["state"]` at the observation (before the action): what LaRe's code reads."""
    next_state: dict[str, Any] = field(default_factory=dict)
    """`info["state"]` after the action."""
    caption: str = ""
    """A short text describing the observation for LLM judges (NetHack: the message line)."""
    done: bool = False
    """The episode ended after this step (terminated or truncated)."""
    step_rewards: dict[str, float] = field(default_factory=dict)
    """Per-step rewards assigned by credit modules, by module name (logged with sampled episodes)."""
    value: float = 0.0
    """Value-head estimate at the prompt (GAE only)."""
    advantage: float | None = None
    """The final advantage the learner trained this step with (set by the trainer; None before the update)."""
    policy_version: int = 0
    """Version of the weights that acted (learner updates before the step was sampled): the trainer's staleness
    of a step is the learner's version when it trains minus this."""


@dataclass
class Episode:
    """A finished (or cut) episode: its steps plus the outcome."""

    episode_id: str
    group_id: str
    env_id: str
    seed: int
    instruction: str
    steps: list[Step] = field(default_factory=list)
    success: bool = False
    """`info["success"]` at the end."""
    score: float = 0.0
    """`info["score"]` at the end (the env's task metric)."""
    truncated: bool = False
    """Ended by a step cap or a crashed worker rather than by the task."""
    metrics: dict[str, float] = field(default_factory=dict)
    """Family-specific episode metrics (e.g. NetHack progression, path efficiency)."""

    @property
    def length(self) -> int:
        return len(self.steps)

    @property
    def total_reward(self) -> float:
        """Sum of env rewards (the episode return, undiscounted)."""
        return float(sum(s.reward for s in self.steps))

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form, as written to `runs/<name>/episodes/` (token ids left out to keep files small)."""
        d = asdict(self)
        for s in d["steps"]:
            for key in ("prompt_ids", "action_ids", "token_logprobs"):
                s.pop(key, None)
        d["length"] = self.length
        d["return"] = self.total_reward
        return d


def group_indices(episodes: Sequence[Episode]) -> dict[str, list[int]]:
    """Indices of `episodes` by `group_id` (same task and seed), in batch order: what every group-relative
    estimator (GRPO, RLOO, GiGPO anchors, OPRL pairs, SPA folds) iterates over."""
    out: dict[str, list[int]] = defaultdict(list)
    for i, ep in enumerate(episodes):
        out[ep.group_id].append(i)
    return dict(out)


def discounted_returns(rewards: np.ndarray, gamma: float) -> np.ndarray:
    """Returns-to-go G_t = sum_k gamma^k r_{t+k}, computed backwards (estimators and GiGPO's anchor returns)."""
    out = np.zeros(len(rewards))
    acc = 0.0
    for t in range(len(rewards) - 1, -1, -1):
        acc = rewards[t] + gamma * acc
        out[t] = acc
    return out
