"""`outcome`: no step rewards at all; the learner uses only the episode outcome (the baseline)."""

from __future__ import annotations

import numpy as np

from credit.base import CreditModule, CreditOutput, register_credit
from credo.trajectory import Episode


@register_credit("outcome")
class OutcomeOnly(CreditModule):
    """Zero step reward everywhere: advantages come from the episode-level estimator alone."""

    signal = "none"

    def assign(self, episodes: list[Episode]) -> CreditOutput:
        return CreditOutput([np.zeros(ep.length, dtype=np.float64) for ep in episodes])
