"""The PPO-clip learner: one update over a batch of step samples with their advantages.

Loss, on the action tokens of each step sample only:
    L = -mean[min(rho * A, clip(rho, 1-eps, 1+eps) * A)] - c_ent * H + c_kl * KL(pi || pi_ref) + c_v * L_value
- choose mode: rho = pi(a|s) / pi_old(a|s) with the candidate-softmax log-prob, exactly as at acting; each step
  is one unit, so the mean runs over steps; KL to the reference is exact over the candidates.
- generate mode: rho per action token against the token log-probs recorded at acting, token-mean aggregation
  (every action token of the minibatch weighs the same, verl's `token-mean`); KL by the k3 estimator.
Old log-probs come from the rollout (`Step.logprob`, `Step.token_logprobs`); nothing is recomputed, but for steps
sampled by an external engine (`behaviour_logprobs=recompute`, generate mode): there the learner recomputes the old
token log-probs once per update and weights each token's loss by the truncated importance weight
min(exp(old - behaviour), tis_cap) (TIS: verl PR #2953, TRL PR #3867), logging `behaviour_kl` (k3 estimate of
KL(behaviour || old) per token) and `tis_clip_frac` (tokens whose weight was truncated). The KL
reference (agents/reference.py) scores each step once per update.
Minibatches are split into micro-batches whose gradients accumulate before one clipped optimizer step.
Dropout is switched off (as TRL does for RL): the ratio compares against log-probs taken at acting without it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from pydantic import Field

from agents.policy import ActionEval, Policy
from agents.reference import Reference
from credo.config import Config
from credo.trajectory import Step


class LearnerConfig(Config):
    """PPO settings (defaults: research/calibration.md, which learns MiniHack Room from scratch in minutes)."""

    lr: float = Field(1e-3, gt=0, description="Adam learning rate.")
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay.")
    epochs: int = Field(2, ge=1, description="PPO epochs over each batch.")
    minibatch_size: int = Field(256, ge=1, description="Step samples per optimizer step.")
    micro_batch_size: int = Field(256, ge=1, description="Step samples per forward/backward (gradient "
                                  "accumulation when smaller than minibatch_size).")
    clip: float = Field(0.2, gt=0, description="PPO clip range epsilon.")
    entropy_coef: float = Field(0.01, ge=0, description="Entropy bonus coefficient.")
    kl_coef: float = Field(0.0, ge=0, description="KL(pi || pi_ref) penalty to the initial policy; 0 disables "
                           "it. The reference is a frozen copy of the model, or of the adapters only with LoRA.")
    max_grad_norm: float = Field(1.0, gt=0, description="Gradient clipping norm.")
    value_coef: float = Field(0.5, ge=0, description="Value-loss coefficient (gae only).")
    behaviour_logprobs: Literal["acting", "recompute"] = Field(
        "acting", description="Generate mode: 'acting' trusts the recorded token log-probs as the old policy's "
        "(credo's own sampler: exact); 'recompute' (an external engine such as vLLM) recomputes them before the "
        "update and uses the recorded ones only in a truncated importance weight min(exp(old - recorded), tis_cap).")
    tis_cap: float = Field(2.0, ge=1, description="Truncation of the engine importance weight (verl, TRL: 2).")


class ValueHead(torch.nn.Module):
    """A linear critic on the policy's last hidden state at the prompt's last token (GAE / PPO)."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(hidden, 1)
        torch.nn.init.zeros_(self.linear.weight)
        torch.nn.init.zeros_(self.linear.bias)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.linear(h.float()).squeeze(-1)


class Learner:
    """Owns the optimizer (and the value head, the reference model) and runs PPO updates."""

    def __init__(self, policy: Policy, config: LearnerConfig | None = None, value_head: bool = False) -> None:
        self.policy = policy
        self.config = config or LearnerConfig()
        for module in policy.model.modules():  # e.g. GPT-2's 0.1: rho would be noisy from the first minibatch
            if isinstance(module, torch.nn.Dropout):
                module.p = 0.0
        self.value_head = ValueHead(policy.model.config.hidden_size).to(policy.device) if value_head else None
        params = [p for p in policy.model.parameters() if p.requires_grad]
        if self.value_head is not None:
            params += list(self.value_head.parameters())
        self.optimizer = torch.optim.AdamW(params, lr=self.config.lr, weight_decay=self.config.weight_decay)
        self.reference = Reference(policy) if self.config.kl_coef > 0 else None

    # -- critic -------------------------------------------------------------------------------------------
    @torch.no_grad()
    def values(self, steps: Sequence[Step]) -> np.ndarray:
        """Value estimates for the steps (GAE needs them before the update)."""
        if self.value_head is None:
            raise ValueError("values(): this learner has no value head (advantage estimator is not gae)")
        out = []
        for i in range(0, len(steps), self.config.micro_batch_size):
            ev = self.policy.evaluate(steps[i:i + self.config.micro_batch_size], need_hidden=True)
            out.append(self.value_head(ev.prompt_hidden).cpu().numpy())
        return np.concatenate(out) if out else np.zeros(0)

    # -- the update -----------------------------------------------------------------------------------------
    def _kl(self, ev: ActionEval, ref: list[torch.Tensor]) -> torch.Tensor:
        """Per-step KL(pi || pi_ref) (choose: exact over candidates; generate: k3 summed over tokens); `ref` holds
        the reference's candidate scores or token log-probs of the same steps (`Reference.per_step`)."""
        if "candidate_scores" in ev.extra:
            t = self.policy.config.temperature
            kls = []
            for sc, rsc in zip(ev.extra["candidate_scores"], ref, strict=True):
                logp, logq = torch.log_softmax(sc / t, 0), torch.log_softmax(rsc / t, 0)
                kls.append((logp.exp() * (logp - logq)).sum())
            return torch.stack(kls)
        return torch.stack([(torch.exp(r - lp) - (r - lp) - 1).sum()
                            for lp, r in zip(ev.token_logprobs, ref, strict=True)])

    def _loss(self, steps: Sequence[Step], adv: torch.Tensor, targets: torch.Tensor | None,
              denom: float, ref: list[torch.Tensor] | None,
              old: list[torch.Tensor] | None = None) -> tuple[torch.Tensor, dict[str, float]]:
        """Summed (not averaged) loss terms of a micro-batch divided by the minibatch's unit count `denom`."""
        c = self.config
        ev = self.policy.evaluate(steps, need_hidden=self.value_head is not None)
        choose = steps[0].candidates is not None
        if choose:
            old = torch.tensor([s.logprob for s in steps], device=ev.logprob.device)
            log_ratio = ev.logprob - old
            unit_adv = adv
        else:  # generate: one unit per action token
            recorded = [torch.tensor(s.token_logprobs, device=ev.logprob.device) for s in steps]
            log_ratio = torch.cat([lp - o for lp, o in zip(ev.token_logprobs, old or recorded, strict=True)])
            unit_adv = torch.cat([adv[i].expand(len(s.action_ids)) for i, s in enumerate(steps)])
        ratio = log_ratio.exp()
        pg = -torch.min(ratio * unit_adv, ratio.clamp(1 - c.clip, 1 + c.clip) * unit_adv)
        tis: dict[str, float] = {}
        if old is not None and not choose:  # engine-sampled: truncated importance weight old / behaviour
            gap = torch.cat(old) - torch.cat(recorded)
            weight = gap.exp()
            pg = pg * weight.clamp(max=c.tis_cap)
            tis = {"behaviour_kl": float(((weight - 1) - gap).sum()),
                   "tis_clip_frac": float((weight > c.tis_cap).sum())}
        n_units = torch.tensor([1.0 if choose else float(len(s.action_ids)) for s in steps], device=adv.device)
        loss = pg.sum() / denom - c.entropy_coef * (ev.entropy * n_units).sum() / denom
        with torch.no_grad():
            stats = {"policy_loss": float(pg.sum()), "entropy": float((ev.entropy * n_units).sum()),
                     "approx_kl": float(((ratio - 1) - log_ratio).sum()),
                     "clip_frac": float(((ratio - 1).abs() > c.clip).float().sum()), **tis}
        if ref is not None:
            kl = self._kl(ev, ref)
            loss = loss + c.kl_coef * kl.sum() / denom
            stats["kl_ref"] = float(kl.detach().sum())
        if self.value_head is not None and targets is not None:
            v = self.value_head(ev.prompt_hidden)
            vloss = 0.5 * ((v - targets) ** 2)
            loss = loss + c.value_coef * vloss.sum() / denom
            stats["value_loss"] = float(vloss.detach().sum())
        stats["units"] = float(log_ratio.numel())
        return loss, stats

    def update(self, steps: Sequence[Step], advantages: np.ndarray,
               value_targets: np.ndarray | None = None) -> dict[str, float]:
        """PPO epochs over `steps` (one advantage per step); returns mean diagnostics and throughput."""
        if len(steps) != len(advantages):
            raise ValueError(f"update: {len(steps)} steps but {len(advantages)} advantages")
        c = self.config
        ref = self.reference.per_step(steps, c.micro_batch_size) if self.reference is not None else None
        choose = steps[0].candidates is not None
        old = self._old_token_logprobs(steps) if c.behaviour_logprobs == "recompute" and not choose else None
        self.policy.model.train()
        dev = self.policy.device
        adv_all = torch.as_tensor(np.asarray(advantages, dtype=np.float32), device=dev)
        tgt_all = (torch.as_tensor(np.asarray(value_targets, dtype=np.float32), device=dev)
                   if value_targets is not None else None)
        totals: dict[str, float] = {}
        tokens = 0
        grad_norms = []
        t0 = time.perf_counter()
        for _ in range(c.epochs):
            order = torch.randperm(len(steps)).tolist()
            for mb_start in range(0, len(order), c.minibatch_size):
                mb = order[mb_start:mb_start + c.minibatch_size]
                denom = float(len(mb)) if choose else float(sum(len(steps[i].action_ids) for i in mb))
                self.optimizer.zero_grad(set_to_none=True)
                for idx, live in self._micro_batches(steps, mb):
                    micro = [steps[i] for i in idx]
                    loss, stats = self._loss(micro, adv_all[idx], tgt_all[idx] if tgt_all is not None else None,
                                             max(denom, 1.0), [ref[i] for i in idx] if ref is not None else None,
                                             [old[i] for i in idx] if old is not None else None)
                    (loss if live else 0.0 * loss).backward()
                    if live:
                        for k, v in stats.items():
                            totals[k] = totals.get(k, 0.0) + v
                        tokens += sum(len(s.prompt_ids) + self._action_tokens(s) for s in micro)
                params = [p for g in self.optimizer.param_groups for p in g["params"]]
                norm = torch.nn.utils.get_total_norm([p.grad for p in params if p.grad is not None])
                norm = norm.full_tensor() if hasattr(norm, "full_tensor") else norm  # sharded: over all ranks
                torch.nn.utils.clip_grads_with_norm_(params, c.max_grad_norm, norm)
                grad_norms.append(float(norm))
                self.optimizer.step()
        seconds = time.perf_counter() - t0
        self.policy.model.eval()
        totals = self._sum_over_ranks({**totals, "learner_tokens": float(tokens)})
        tokens = totals.pop("learner_tokens")
        units = max(totals.pop("units", 1.0), 1.0)
        out = {k: v / units for k, v in totals.items()}
        out.update({"grad_norm": float(np.mean(grad_norms)) if grad_norms else 0.0, "learner_tokens": float(tokens),
                    "learner_seconds": seconds, "learner_tokens_per_s": tokens / max(seconds, 1e-9)})
        return out

    @torch.no_grad()
    def _old_token_logprobs(self, steps: Sequence[Step]) -> list[torch.Tensor]:
        """The learner's own token log-probs of the steps' actions before the update (engine-sampled steps)."""
        out: list[torch.Tensor] = []
        for i in range(0, len(steps), self.config.micro_batch_size):
            out += [t.detach() for t in self.policy.evaluate(steps[i:i + self.config.micro_batch_size]).token_logprobs]
        return out

    def _micro_batches(self, steps: Sequence[Step], mb: list[int]) -> list[tuple[list[int], bool]]:
        """This process's share of a minibatch as micro-batches (indices into `steps`, and whether it counts:
        a distributed learner may run a zero-weighted one to stay in step with the other ranks)."""
        size = self.config.micro_batch_size
        return [(mb[i:i + size], True) for i in range(0, len(mb), size)]

    def _sum_over_ranks(self, totals: dict[str, float]) -> dict[str, float]:
        """Diagnostic sums of this process; a distributed learner adds the other ranks'."""
        return totals

    def _action_tokens(self, step: Step) -> int:
        if step.candidates is None:
            return len(step.action_ids)
        return sum(len(self.policy.candidate_ids(a)) for a in step.candidates)

    def weights(self) -> dict[str, torch.Tensor]:
        """The trainable weights to publish to the acting replicas (LoRA: the adapters only)."""
        from agents.publish import trainable_weights

        return trainable_weights(self.policy.model)

    # -- checkpoints ---------------------------------------------------------------------------------------
    def save(self, folder: Path) -> dict[str, Any]:
        """Write the policy to `folder/policy`; returns the learner state the trainer keeps with it."""
        self.policy.save(folder / "policy")
        return self.state_dict()

    def load(self, folder: Path, state: dict[str, Any]) -> None:
        """Restore what `save` wrote (the policy itself is loaded before the learner is built)."""
        self.load_state_dict(state)

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {"optimizer": self.optimizer.state_dict()}
        if self.value_head is not None:
            state["value_head"] = self.value_head.state_dict()
        if self.reference is not None:
            state["ref_model"] = self.reference.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        if self.value_head is not None and "value_head" in state:
            self.value_head.load_state_dict(state["value_head"])
        if self.reference is not None and "ref_model" in state:
            self.reference.load_state_dict(state["ref_model"])
