"""`spa`: Stepwise Progress Attribution (SPA-RL, arXiv 2505.20732).

A progress estimator splits each episode's final reward R into per-step contributions c_t:

- backbone: a causal LM, by default a copy of the acting policy's model (`policy.copy_model()`), or any
  Hugging Face model by hub id / path that uses the policy's tokenizer (the step's token ids are fed as they are);
- head: a scalar read at the last token of each step's action (prompt_ids + action_ids). The paper's code puts
  a `Linear(vocab -> 1)` on the output *logits* there; we default to a `Linear(hidden -> 1)` on the last hidden
  state (cheaper, same idea; research/spa_oprl.md 1.8.2). `head="logits"` gives the released-code variant;
- loss: (sum_t c_t - R)^2, averaged over episodes (MSE), on a replay of the last `replay_iterations` batches;
- held-out folds: with `folds=K`, K estimators are kept; estimator k never trains on fold-k episodes and is the
  one that scores them, so no episode gets contributions from a model fitted on it. `folds=1` is the paper's
  in-sample setting (memory: K backbone copies with their AdamW state).

Step reward r_t = alpha * c_t + beta * g_t. It is a *redistributed* reward (`signal = "redistribution"`): by
default it replaces the env reward and the learner's estimator credits each action with the discounted sum of
the r_t that follow it (GAE, or a group baseline on returns-to-go), as the paper runs PPO on it. The grounding
g_t is -1[action invalid] by default (`grounding="penalty"`); the paper's +1[action valid] (`"bonus"`) differs by
a constant per step, which under returns-to-go pays the agent for every extra step it takes.

Released-code behaviours, off by default:
- `released_code_rewards=true`: every turn's value is overwritten by the leave-one-out centred outcome
  R_i - mean_{j != i in the group} R_j (the estimator's output is discarded) and the last turn always counts
  as grounded, as `prm/rl_data_org.py` does;
- the released StepPPO weights turn k's score by (T-1-k) and runs GAE across the whole concatenated episode,
  zeroing rewards and values between turns, so each turn is in effect trained on its own score (an immediate
  reward): `combine="advantage"` is the closest credo setting (a group-normalised immediate step advantage).

Schedule: `refit="online"` re-fits on the replay every iteration; `refit="frozen"` fits on the first
`fit_iterations` batches and then keeps the estimator fixed, which is the paper's pipeline
(SFT -> exploration -> estimator -> RL; see recipes/spa_webshop.yaml). `estimator_path` starts from an estimator saved
by an earlier run (`runs/<name>/credit/spa/`).
"""

from __future__ import annotations

import time
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
from pydantic import Field

from credit._chunked import backward_through, per_item
from credit._episodes import OutcomeSource, outcome
from credit._model_size import default_lr
from credit.base import CreditContext, CreditModule, CreditOutput, RedistributionConfig, register_credit
from credo.config import Config, ConfigError
from credo.trajectory import group_indices

if TYPE_CHECKING:
    from credo.scoring import Scorer
    from credo.trajectory import Episode, Step


class SPAConfig(RedistributionConfig):
    """SPA settings; alpha/beta as in the released code, optimiser as in the paper's estimator training."""

    alpha: float = Field(1.0, description="alpha: weight of the progress contribution c_t in the step reward (released code: 1).")
    beta: float = Field(0.5, description="beta: weight of the grounding signal g_t (released code: 0.5).")
    grounding: Literal["penalty", "bonus"] = Field("penalty", description="g_t: 'penalty' = -1[action invalid] (default: no per-step bonus, which returns-to-go would turn into a reward for length); 'bonus' = +1[action valid] (paper, released code).")
    target: OutcomeSource = Field("return", description="The final reward R the contributions must sum to: env return, success (0/1) or score.")
    estimator: str = Field("policy", description="Backbone: 'policy' (a copy of the acting policy's model) or a hub id / local path of a causal LM with the policy's tokenizer.")
    estimator_path: str | None = Field(None, description="Folder of a saved estimator (runs/<name>/credit/spa) to start from instead of `estimator`.")
    head: Literal["hidden", "logits"] = Field("hidden", description="Scalar head on the last hidden state (default) or on the output logits (released code).")
    folds: int = Field(2, ge=1, le=8, description="K held-out folds (K estimators); an episode is scored by the estimator not trained on it. 1 = in-sample (paper).")
    fold_by: Literal["episode", "group"] = Field("episode", description="Assign folds round-robin per episode, or per group so a task's episodes share a fold.")
    replay_iterations: int = Field(4, ge=1, description="Fit on the episodes of the last N iterations.")
    replay_size: int = Field(4096, ge=1, description="At most this many (most recent) episodes in the replay.")
    epochs: int = Field(1, ge=1, description="Passes over the replay per fit (paper: 1 epoch).")
    min_steps: int = Field(0, ge=0, description="At least this many optimiser steps per fit: passes go on past `epochs` until reached (0: `epochs` only, the paper's; on a few hundred episodes one epoch is a handful of steps).")
    batch_episodes: int = Field(16, ge=1, description="Episodes per optimiser step (paper: global batch 16).")
    lr: float | None = Field(None, gt=0.0, description="Estimator learning rate; null: the paper's 3e-6 for a model of >= 100M parameters, 1e-4 below (calibrated on the tiny model).")
    head_lr: float | None = Field(None, gt=0.0, description="Learning rate of the freshly initialised head; None = `lr`.")
    weight_decay: float = Field(0.01, ge=0.0, description="AdamW weight decay (paper: 0.01).")
    grad_clip: float = Field(1.0, gt=0.0, description="Gradient-norm clip (paper: 1.0).")
    refit: Literal["online", "frozen"] = Field("online", description="'online': re-fit every iteration; 'frozen': fit on the first `fit_iterations` batches, then keep fixed (paper pipeline).")
    fit_iterations: int = Field(1, ge=0, description="With refit=frozen: how many batches to fit on before freezing (0 with estimator_path: never fit).")
    released_code_rewards: bool = Field(False, description="Released rl_data_org.py: overwrite every turn's value with the leave-one-out centred outcome; grounding as a bonus, the last turn always grounded.")
    micro_batch_steps: int = Field(32, ge=1, description="Steps per estimator forward pass (memory bound); gradients are exact for any value.")


class ProgressEstimator(torch.nn.Module):
    """A causal LM backbone plus a scalar head read at the last action token of each step."""

    def __init__(self, backbone: torch.nn.Module, head: Literal["hidden", "logits"]) -> None:
        super().__init__()
        self.backbone = backbone
        self.head_kind = head
        if head == "logits" and backbone.get_output_embeddings() is None:
            raise ConfigError("spa: head=logits reads the backbone's output logits, and this one (an encoder) has "
                              "none: use head=hidden")
        width = backbone.config.vocab_size if head == "logits" else backbone.config.hidden_size
        self.head = torch.nn.Linear(width, 1, device=next(backbone.parameters()).device)
        torch.nn.init.zeros_(self.head.weight)  # contributions start at 0, not at noise
        torch.nn.init.zeros_(self.head.bias)

    def contributions(self, scorer: Scorer, steps: list[Step]) -> torch.Tensor:
        """c_t for each step (with gradients), read via the policy's own step encoding."""
        h = scorer.action_hidden(steps, model=self.backbone)
        if self.head_kind == "logits":
            h = self.backbone.get_output_embeddings()(h)
        return self.head(h.float()).squeeze(-1)


@register_credit("spa")
class SPA(CreditModule):
    """Progress estimator trained so contributions sum to the outcome; step reward alpha*c_t + beta*valid."""

    Config = SPAConfig
    config: SPAConfig
    signal = "redistribution"

    def __init__(self, config: Config | None = None, context: CreditContext | None = None) -> None:
        super().__init__(config, context)
        self.estimators: list[ProgressEstimator] = []
        self.optimizers: list[torch.optim.Optimizer] = []
        self.replay: deque[list[Episode]] = deque(maxlen=self.config.replay_iterations)
        self.fold_of: dict[str, int] = {}
        self._next_fold = 0
        self.fits = 0
        self._rng = np.random.default_rng(self.context.seed)
        self._pending_state: dict[str, Any] | None = None

    # -- building ---------------------------------------------------------------------------------------
    def _backbone(self) -> torch.nn.Module:
        scorer = self.context.scorer
        if self.config.estimator == "policy":
            return scorer.copy_model()
        from transformers import AutoModelForCausalLM

        try:
            model = AutoModelForCausalLM.from_pretrained(self.config.estimator)
        except OSError as err:
            raise ConfigError(f"spa: estimator {self.config.estimator!r} cannot be loaded: {err}") from None
        vocab = scorer.vocab_size
        if model.config.vocab_size < vocab:
            raise ConfigError(f"spa: estimator {self.config.estimator!r} has vocab {model.config.vocab_size}, "
                              f"smaller than the policy's {vocab}; it must use the policy's tokenizer")
        return model.to(scorer.device)

    def _ensure_estimators(self) -> None:
        if self.estimators:
            return
        if self.context.scorer is None:
            raise ConfigError("spa: needs the acting policy (CreditContext.scorer) to build its estimator")
        for _ in range(self.config.folds):
            est = ProgressEstimator(self._backbone(), self.config.head)
            lr = self.config.lr or default_lr("spa", est.backbone, paper_lr=3e-6, small_lr=1e-4)
            head_lr = self.config.head_lr or lr
            opt = torch.optim.AdamW([
                {"params": [p for p in est.backbone.parameters() if p.requires_grad], "lr": lr},
                {"params": est.head.parameters(), "lr": head_lr},
            ], weight_decay=self.config.weight_decay)
            self.estimators.append(est)
            self.optimizers.append(opt)
        if self.config.estimator_path:
            self._pending_state = self._pending_state or torch.load(
                Path(self.config.estimator_path) / "estimator.pt", weights_only=False)
        self._apply_pending_state()

    def _apply_pending_state(self) -> None:
        if not self.estimators or not self._pending_state:
            return
        state = self._pending_state
        if len(state["estimators"]) != len(self.estimators):
            raise ConfigError(f"spa: saved estimator has {len(state['estimators'])} folds, config asks for {self.config.folds}")
        for est, sd in zip(self.estimators, state["estimators"], strict=True):
            est.load_state_dict(sd)
        for opt, sd in zip(self.optimizers, state.get("optimizers", []), strict=False):
            opt.load_state_dict(sd)
        self.fold_of.update(state.get("fold_of", {}))
        self._next_fold = int(state.get("next_fold", 0))
        self.fits = int(state.get("fits", 0))
        self._pending_state = None

    # -- folds and fitting --------------------------------------------------------------------------------
    def _key(self, ep: Episode) -> str:
        return ep.group_id if self.config.fold_by == "group" else ep.episode_id

    def _fold(self, ep: Episode) -> int:
        """The episode's fold: assigned round-robin at first sight (balanced folds), then remembered."""
        key = self._key(ep)
        if key not in self.fold_of:
            self.fold_of[key] = self._next_fold
            self._next_fold = (self._next_fold + 1) % self.config.folds
        return self.fold_of[key]

    def _forget_folds(self) -> None:
        """Keep fold assignments only for episodes still in the replay (the map must not grow with training)."""
        keep = {self._key(ep) for batch in self.replay for ep in batch}
        self.fold_of = {k: f for k, f in self.fold_of.items() if k in keep}

    def _fit(self, k: int, episodes: list[Episode]) -> float | None:
        """Train estimator k on `episodes` (MSE of summed contributions vs outcome); mean loss (None: no data)."""
        est, opt, cfg = self.estimators[k], self.optimizers[k], self.config
        est.train()
        episodes = [ep for ep in episodes if ep.length]
        losses: list[float] = []
        passes = 0
        while episodes and (passes < cfg.epochs or len(losses) < cfg.min_steps):
            passes += 1
            order = self._rng.permutation(len(episodes))
            for b in range(0, len(order), cfg.batch_episodes):
                batch = [episodes[i] for i in order[b:b + cfg.batch_episodes]]
                steps = [s for ep in batch for s in ep.steps]
                owner = torch.tensor([i for i, ep in enumerate(batch) for _ in ep.steps])
                target = torch.tensor([outcome(ep, cfg.target) for ep in batch], dtype=torch.float32)

                def mse(c: torch.Tensor, owner=owner, target=target) -> torch.Tensor:
                    total = torch.zeros(len(target), device=c.device).index_add(0, owner.to(c.device), c)
                    return ((total - target.to(c.device)) ** 2).mean()

                opt.zero_grad(set_to_none=True)
                loss, _ = backward_through(lambda s, est=est: est.contributions(self.context.scorer, s), steps,
                                           cfg.micro_batch_steps, mse)
                torch.nn.utils.clip_grad_norm_(est.parameters(), cfg.grad_clip)
                opt.step()
                losses.append(float(loss))
                if passes > cfg.epochs and len(losses) >= cfg.min_steps:
                    break
        opt.zero_grad(set_to_none=True)
        est.eval()
        return float(np.mean(losses)) if losses else None

    def _should_fit(self) -> bool:
        return self.config.refit == "online" or self.fits < self.config.fit_iterations

    def fit(self, episodes: list[Episode]) -> dict[str, float]:
        """Add `episodes` to the replay and train each fold's estimator on the replay minus its own fold."""
        self._ensure_estimators()
        for ep in episodes:
            self._fold(ep)
        self.replay.append(episodes)
        pool = [ep for batch in self.replay for ep in batch][-self.config.replay_size:]
        start = time.perf_counter()
        losses = []
        for k in range(self.config.folds):
            train = [ep for ep in pool if self.config.folds == 1 or self._fold(ep) != k]
            loss = self._fit(k, train)
            if loss is not None:
                losses.append(loss)
        self.fits += 1
        if self.config.refit == "frozen" and self.fits == self.config.fit_iterations:
            self.save_estimator()
        metrics = {"fit_time": time.perf_counter() - start, "replay_episodes": float(len(pool))}
        if losses:  # no fold had training data yet: nothing to report
            metrics["estimator_loss"] = float(np.mean(losses))
        return metrics

    def contributions(self, episodes: list[Episode]) -> list[np.ndarray]:
        """Held-out c_t for each step: an episode is scored by the estimator of its own fold (never trained on it)."""
        self._ensure_estimators()
        out = [np.zeros(ep.length) for ep in episodes]
        for k, est in enumerate(self.estimators):
            mine = [i for i, ep in enumerate(episodes) if ep.length and self._fold(ep) == k]
            steps = [s for i in mine for s in episodes[i].steps]
            if not steps:
                continue
            values = per_item(lambda s, est=est: est.contributions(self.context.scorer, s), steps,
                              self.config.micro_batch_steps).cpu().double().numpy()
            pos = 0
            for i in mine:
                out[i] = values[pos:pos + episodes[i].length]
                pos += episodes[i].length
        return out

    # -- the module API -------------------------------------------------------------------------------------
    def assign(self, episodes: list[Episode]) -> CreditOutput:
        cfg = self.config
        metrics: dict[str, float] = {}
        if cfg.released_code_rewards:
            values = self._loo_outcomes(episodes)
        else:
            self._ensure_estimators()
            if self._should_fit():
                metrics.update(self.fit(episodes))
            values = self.contributions(episodes)
            errors = [(v.sum() - outcome(ep, cfg.target)) ** 2 for v, ep in zip(values, episodes, strict=True) if ep.length]
            metrics["heldout_mse"] = float(np.mean(errors)) if errors else 0.0
        rewards = []
        for v, ep in zip(values, episodes, strict=True):
            grounded = np.array([float(s.valid_action) for s in ep.steps])
            if cfg.released_code_rewards and ep.length:
                grounded[-1] = 1.0
            g = grounded if cfg.grounding == "bonus" or cfg.released_code_rewards else grounded - 1.0
            rewards.append(cfg.alpha * v + cfg.beta * g)
        self._forget_folds()
        return CreditOutput(rewards, metrics=metrics)

    def _loo_outcomes(self, episodes: list[Episode]) -> list[np.ndarray]:
        """Released code: each turn gets R_i - mean of the other episodes' R in its group (R_i alone if none)."""
        out = [np.zeros(ep.length) for ep in episodes]
        for members in group_indices(episodes).values():
            r = np.array([outcome(episodes[i], self.config.target) for i in members])
            for k, i in enumerate(members):
                others = np.delete(r, k)
                out[i] = np.full(episodes[i].length, r[k] - (others.mean() if len(others) else 0.0))
        return out

    # -- persistence ------------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        if not self.estimators:
            return {}
        return {"estimators": [e.state_dict() for e in self.estimators],
                "optimizers": [o.state_dict() for o in self.optimizers],
                "fold_of": dict(self.fold_of), "next_fold": self._next_fold, "fits": self.fits}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._pending_state = state or None
        self._apply_pending_state()

    def save_estimator(self, path: Path | None = None) -> Path | None:
        """Write the fitted estimator(s) to `path` (default `run_dir/credit/spa/`) for `estimator_path` reuse."""
        if path is None:
            if self.context.run_dir is None:
                return None
            path = Path(self.context.run_dir) / "credit" / "spa"
        path.mkdir(parents=True, exist_ok=True)
        state = self.state_dict()
        state.pop("optimizers", None)
        torch.save(state, path / "estimator.pt")
        return path

    def close(self) -> None:
        if self.estimators and self.config.refit == "online":
            self.save_estimator()
