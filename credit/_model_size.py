"""Learning-rate defaults that follow the size of the model a module trains.

The papers' learning rates (SPA's estimator 3e-6, OPRL's PRM 1e-6) are for 3-7B models; a copy of credo's
0.5M-parameter tiny model barely moves at those rates, and a redistribution module whose estimator does not learn
replaces the env reward by noise. So a module's `lr: null` means the paper's rate for a large model and a rate
calibrated on the tiny model (benchmarks/RESULTS.md) for a small one.
"""

from __future__ import annotations

import logging

import torch

log = logging.getLogger(__name__)

LARGE_MODEL_PARAMS = 100_000_000
"""Models with at least this many parameters take the paper's learning rate."""


def default_lr(module: str, model: torch.nn.Module, paper_lr: float, small_lr: float) -> float:
    """The paper's lr for a model of >= `LARGE_MODEL_PARAMS` parameters, `small_lr` below (logged once)."""
    n = sum(p.numel() for p in model.parameters())
    lr = paper_lr if n >= LARGE_MODEL_PARAMS else small_lr
    log.info("%s: lr %g for a %.1fM-parameter model (set credit_config.%s.lr to choose)", module, lr, n / 1e6, module)
    return lr
