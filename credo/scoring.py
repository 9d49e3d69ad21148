"""`Scorer`: what a credit module may ask of the policy, without holding the policy itself.

Credit modules that learn a model of their own (SPA's progress estimator, OPRL's implicit PRM) start it as a
copy of the policy's model and score recorded steps through it exactly as the policy scores its actions. They
see only this interface, so they never import `agents` and never touch a model the learner may shard: the
local `agents.policy.Policy` implements it, and a distributed learner can implement it with its own replica.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import torch

from credo.trajectory import Step


@runtime_checkable
class Scorer(Protocol):
    """Scores recorded steps under the acting distribution with any model that shares the policy's tokenizer."""

    device: torch.device
    """Where models returned by `copy_model` live and where scores are computed."""

    @property
    def vocab_size(self) -> int:
        """Vocabulary size of the policy's tokenizer (a separate backbone must cover it)."""

    def copy_model(self) -> Any:
        """An independent, trainable copy of the policy's model (LoRA merged): a module's own model starts here."""

    def action_logprobs(self, steps: Sequence[Step], model: Any = None) -> torch.Tensor:
        """log pi(a_t | prompt_t) per step with gradients, over the same action distribution as acting
        (`model`: score with this copy instead of the policy's model)."""

    def action_hidden(self, steps: Sequence[Step], model: Any = None) -> torch.Tensor:
        """[n_steps, hidden]: the last hidden state at the last token of prompt + action, with gradients."""
