"""The credit step of an iteration: build a run's credit modules, run them on a batch, and pass their signals on.

`Trainer.iterate()` calls `assign_credit` between the rollout and `advantages.compute`; `credo bench credit
--diagnostic` calls the same two functions on a frozen batch, so it measures exactly what training uses.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import credit
from agents.advantages import CreditSignal
from agents.config import TrainConfig
from credo.config import ConfigError
from credo.scoring import Scorer
from credo.trajectory import Episode

Modules = list[tuple[str, float, credit.CreditModule]]
"""(name, spec weight, module) in spec order."""


def build_modules(config: TrainConfig, scorer: Scorer | None, run_dir: Path | None = None,
                  env_factory: Callable[[], Any] | None = None) -> Modules:
    """The modules of `config.credit`, each configured from `config.credit_config[name]`."""
    spec = credit.parse_spec(config.credit)
    names = {n for n, _ in spec}
    for extra in set(config.credit_config) - names:
        raise ConfigError(f"credit_config.{extra}: module {extra!r} is not in credit={config.credit!r}")
    context = credit.CreditContext(run_dir=run_dir, scorer=scorer, env_id=config.env, seed=config.seed,
                                   judge_url=config.judge_url, env_factory=env_factory)
    modules = []
    for name, weight in spec:
        cls = credit.get(name)
        cfg = cls.Config.build(config.credit_config.get(name, {}), source=f"credit_config.{name}")
        modules.append((name, weight, cls(cfg, context)))
    return modules


def assign_credit(modules: Modules, episodes: list[Episode]) -> tuple[list[CreditSignal], dict[str, float]]:
    """Run every module on the batch; returns their signals (inactive ones left out) and their metrics.

    Each module's numbers are also recorded on `Step.step_rewards[name]` (so logged episodes show them).
    """
    signals: list[CreditSignal] = []
    metrics: dict[str, float] = {}
    for name, weight, module in modules:
        t0 = time.perf_counter()
        out = module.assign(episodes)
        metrics[f"{name}/seconds"] = time.perf_counter() - t0
        if len(out.step_rewards) != len(episodes) or any(
                len(r) != ep.length for r, ep in zip(out.step_rewards, episodes, strict=True)):
            raise RuntimeError(f"credit module {name!r} returned step rewards of the wrong shape")
        for ep, r in zip(episodes, out.step_rewards, strict=True):
            for step, v in zip(ep.steps, r, strict=True):
                step.step_rewards[name] = float(v)
        metrics.update({f"{name}/{k}": float(v) for k, v in out.metrics.items()})
        if module.signal == "none" or not out.active:
            continue
        signals.append(CreditSignal(name, module.signal, weight,
                                    [np.asarray(r, dtype=np.float64) for r in out.step_rewards], out.kind,
                                    getattr(module.config, "combine", "replace"),
                                    getattr(module.config, "exact_sum", False)))
    return signals, metrics
