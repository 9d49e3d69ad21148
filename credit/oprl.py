"""`oprl`: implicit step rewards from a PRM learned online (OPRL / iStar, arXiv 2509.19199).

The PRM pi_phi is a causal LM initialised from the policy. A step's reward is the implicit reward

    r_t = beta * (log pi_phi(a_t | prompt_t) - log pi_old(a_t | prompt_t)),

where pi_old is the acting policy, whose log-prob is already stored on the step (`Step.logprob`), and
log pi_phi is scored by `policy.action_logprobs(steps, model=prm)`: the same action distribution as at acting
time (generate mode: the sum over the step's action tokens; choose mode: log-softmax over the candidates).

Each call is one training iteration: the rewards are read from the PRM, then the PRM takes ONE optimiser step
of trajectory-level DPO on every (successful, failed) pair inside each group (same task and seed):

    L(phi) = -mean_pairs log sigmoid(Q(tau+) - Q(tau-)),   Q(tau) = sum_t r_t   (paper)

so one PRM update alternates with one policy update. Groups that are all-success or all-failure add no pair
(no PRM gradient from them) but their steps still get rewards. Rewards are divided by the batch max |r|
(`istar_norm=batch_norm`), so they lie in [-1, 1], before the learner's step-level group baseline.

Paper vs released code (research/spa_oprl.md section 2.2):
- the released code builds the DPO loss on *detached* log-ratios, so no gradient reaches phi and the PRM
  stays at its initialisation: `detach_prm_grad=true` reproduces this bug-compatible variant;
- the released code scores a trajectory by the *mean* of its step rewards, the paper by the sum:
  `trajectory_score`;
- the rewards used for advantages come from the pre-update PRM in the code (the paper is ambiguous):
  `rewards_from`.

How the rewards reach the learner (`signal = "step_advantage"`): A = A^E + w * A^S, A^E the estimator's advantage
of the outcome, A^S the step rewards normalised within the group the way the estimator normalises outcomes (RLOO:
n/(n-1) times the deviation from the mean over all the group's steps), w the credit spec's weight. iStar runs
RLOO with w = 1 on outcomes of 10 per win, so its step term weighs about a tenth of the episode term; credo's
outcomes are 0/1, so the same balance is w = 0.1: a bare `--credit oprl` is `oprl:0.1`, and with no estimator
or group size set the trainer picks iStar's `advantage=rloo group_size=8` (and says so).

Guard against PRM runaway (not in the paper; `logratio_clip=null` turns it off): the log-ratio of each step is
clipped to +-`logratio_clip` nats before scaling, so a few steps on which the PRM has drifted far from the
policy cannot dominate the batch max-abs normalisation and squash every other step's reward to ~0. Collapse
indicators: `oprl/prm_drift` (mean |log pi_phi - log pi_old| over the batch: how far the PRM has moved from the
policy) and `oprl/clip_frac` (share of steps at the clip).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field

from credit._chunked import backward_through, per_item
from credit._episodes import OutcomeSource, outcome
from credit._model_size import default_lr
from credit.base import CreditContext, CreditModule, CreditOutput, register_credit
from credo.config import Config, ConfigError
from credo.trajectory import group_indices

if TYPE_CHECKING:
    from credo.trajectory import Episode, Step


class OPRLConfig(Config):
    """OPRL/iStar settings; defaults follow the paper (WebShop run) unless noted."""

    beta: float = Field(0.05, gt=0.0, description="beta of the implicit reward r_t = beta * log(pi_phi / pi_old) (paper/code: 0.05).")
    lr: float | None = Field(None, gt=0.0, description="PRM learning rate (AdamW, constant); null: the code's 1e-6 for a model of >= 100M parameters, 1e-3 below (calibrated on the tiny model).")
    weight_decay: float = Field(0.0, ge=0.0, description="PRM AdamW weight decay (code: 0).")
    grad_clip: float = Field(10.0, gt=0.0, description="PRM gradient-norm clip (code: 10).")
    trajectory_score: Literal["sum", "mean"] = Field("sum", description="Q(tau) in the DPO loss: sum of step rewards (paper) or their mean (released code).")
    detach_prm_grad: bool = Field(False, description="Released-code bug: DPO loss on detached rewards, so the PRM never learns. Only for ablations.")
    normalize: Literal["batch_max_abs", "none"] = Field("batch_max_abs", description="Divide step rewards by the batch max abs(r) + 1e-6 (code's batch_norm) or leave them raw.")
    rewards_from: Literal["pre_update", "post_update"] = Field("pre_update", description="Score steps with the PRM before (code) or after this iteration's DPO step.")
    preference: OutcomeSource = Field("success", description="Episode number that decides tau+ vs tau- (code: success, i.e. acc > 0).")
    success_threshold: float = Field(0.0, description="An episode is tau+ when its `preference` outcome is > this, else tau-.")
    micro_batch_steps: int = Field(16, ge=1, description="Steps per PRM forward pass (memory bound); the gradient is exact for any value.")
    logratio_clip: float | None = Field(3.0, gt=0.0, description="Clip each step's log(pi_phi / pi_old) to +-this many nats before beta and normalisation (a runaway guard, not in the paper; null: off).")


@register_credit("oprl")
class OPRL(CreditModule):
    """Implicit PRM trained by trajectory DPO within groups; step reward = beta * log-ratio to the acting policy."""

    Config = OPRLConfig
    config: OPRLConfig
    signal = "step_advantage"
    default_weight = 0.1  # iStar's episode/step balance with 0/1 outcomes (module docstring)
    requires_groups = True
    suggested = {"advantage": "rloo", "group_size": 8}

    def __init__(self, config: Config | None = None, context: CreditContext | None = None) -> None:
        super().__init__(config, context)
        self.prm: torch.nn.Module | None = None
        self.optimizer: torch.optim.Optimizer | None = None
        self._pending_state: dict[str, Any] | None = None

    def _ensure_prm(self) -> None:
        """Build pi_phi lazily as a copy of the acting policy's model (it must exist by the first batch)."""
        if self.prm is not None:
            return
        scorer = self.context.scorer
        if scorer is None:
            raise ConfigError("oprl: needs the acting policy (CreditContext.scorer) to initialise its PRM")
        self.prm = scorer.copy_model()
        self.prm.eval()  # deterministic scoring; the DPO step needs no dropout
        self.optimizer = torch.optim.AdamW(
            [p for p in self.prm.parameters() if p.requires_grad],
            lr=self.config.lr or default_lr("oprl", self.prm, paper_lr=1e-6, small_lr=1e-3),
            weight_decay=self.config.weight_decay)
        self._apply_pending_state()

    def _apply_pending_state(self) -> None:
        """Restore a checkpointed PRM once it exists (the PRM is built lazily from the policy)."""
        if self.prm is not None and self._pending_state:
            self.prm.load_state_dict(self._pending_state["prm"])
            self.optimizer.load_state_dict(self._pending_state["optimizer"])
            self._pending_state = None

    def _step_rewards(self, steps: list[Step]) -> torch.Tensor:
        """beta * (log pi_phi - log pi_old) for each step, with gradients into the PRM (the DPO loss's own terms:
        no clip here, so the PRM's gradient is the paper's)."""
        logp = self.context.scorer.action_logprobs(steps, model=self.prm).float()
        old = torch.tensor([s.logprob for s in steps], dtype=torch.float32, device=logp.device)
        return self.config.beta * (logp - old)

    def _pairs(self, episodes: list[Episode]) -> tuple[list[int], list[int], int]:
        """All (tau+, tau-) index pairs within each group, and how many groups had at least one pair."""
        pos_idx: list[int] = []
        neg_idx: list[int] = []
        n_groups = 0
        for members in group_indices(episodes).values():
            good = [i for i in members if outcome(episodes[i], self.config.preference) > self.config.success_threshold]
            bad = [i for i in members if i not in good]
            n_groups += bool(good and bad)
            for p in good:
                for n in bad:
                    pos_idx.append(p)
                    neg_idx.append(n)
        return pos_idx, neg_idx, n_groups

    def assign(self, episodes: list[Episode]) -> CreditOutput:
        cfg = self.config
        steps = [s for ep in episodes for s in ep.steps]
        if not steps:
            return CreditOutput([np.zeros(ep.length) for ep in episodes], metrics={"pairs": 0.0})
        self._ensure_prm()
        start = time.perf_counter()
        owner = torch.tensor([i for i, ep in enumerate(episodes) for _ in ep.steps])
        lengths = torch.tensor([max(ep.length, 1) for ep in episodes], dtype=torch.float32)
        pos_idx, neg_idx, n_groups = self._pairs(episodes)
        pos, neg = torch.tensor(pos_idx, dtype=torch.long), torch.tensor(neg_idx, dtype=torch.long)

        def dpo_loss(rewards: torch.Tensor) -> torch.Tensor:
            score = torch.zeros(len(episodes), device=rewards.device).index_add(0, owner.to(rewards.device), rewards)
            if cfg.trajectory_score == "mean":
                score = score / lengths.to(rewards.device)
            if not pos_idx:
                return rewards.new_zeros(())
            margin = score[pos.to(rewards.device)] - score[neg.to(rewards.device)]
            return -F.logsigmoid(margin).mean()

        self.optimizer.zero_grad(set_to_none=True)
        if cfg.detach_prm_grad:
            # The released code: the loss is built on detached rewards, so the backward pass reaches no parameter.
            rewards = per_item(self._step_rewards, steps, cfg.micro_batch_steps)
            loss = dpo_loss(rewards)
        else:
            loss, rewards = backward_through(self._step_rewards, steps, cfg.micro_batch_steps, dpo_loss)
            if pos_idx:
                torch.nn.utils.clip_grad_norm_(self.prm.parameters(), cfg.grad_clip)
                self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        if cfg.rewards_from == "post_update":
            rewards = per_item(self._step_rewards, steps, cfg.micro_batch_steps)
        rewards = rewards.detach()
        drift = float((rewards.abs() / cfg.beta).mean())
        clip_frac = 0.0
        if cfg.logratio_clip is not None:
            bound = cfg.beta * cfg.logratio_clip
            clip_frac = float((rewards.abs() >= bound).float().mean())
            rewards = rewards.clamp(-bound, bound)
        raw_max = float(rewards.abs().max())
        if cfg.normalize == "batch_max_abs":
            rewards = rewards / (raw_max + 1e-6)
        flat = rewards.cpu().double().numpy()
        out, k = [], 0
        for ep in episodes:
            out.append(flat[k:k + ep.length].copy())
            k += ep.length
        metrics = {
            "prm_loss": float(loss),
            "pairs": float(len(pos_idx)),
            "groups_with_pairs": float(n_groups),
            "reward_abs_max": raw_max,
            "prm_drift": drift,
            "clip_frac": clip_frac,
            "update_time": time.perf_counter() - start,
        }
        return CreditOutput(out, metrics=metrics)

    def state_dict(self) -> dict[str, Any]:
        if self.prm is None:
            return {}
        return {"prm": self.prm.state_dict(), "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._pending_state = state or None
        self._apply_pending_state()
