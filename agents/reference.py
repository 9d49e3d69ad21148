"""The KL reference policy: the policy as it was when the learner was built, frozen.

A full-weight policy keeps a frozen copy of its model. A LoRA policy keeps a frozen copy of its adapters only, as
a second adapter on the same base model, so the reference costs adapter-sized memory instead of a second model
(with a 7B base: megabytes instead of ~14 GB). The reference never changes, so the learner asks it once per
update for every step (`per_step`) instead of once per minibatch and epoch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from agents.policy import Policy
from credo.trajectory import Step

REF_ADAPTER = "credo_reference"
"""Name of the frozen reference adapter on a LoRA policy (never saved with the policy: `Policy.save`)."""


class Reference:
    """Scores steps under the frozen initial policy (module docstring)."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        model = policy.model
        self.adapter: str | None = None
        self.model: Any = None
        if hasattr(model, "peft_config"):
            from peft import get_peft_model_state_dict, set_peft_model_state_dict

            self.adapter = model.active_adapter
            model.add_adapter(REF_ADAPTER, model.peft_config[self.adapter])
            set_peft_model_state_dict(model, get_peft_model_state_dict(model, adapter_name=self.adapter),
                                      adapter_name=REF_ADAPTER)
            model.set_adapter(self.adapter)  # only the active adapter trains: the reference stays frozen
        else:
            self.model = policy.copy_model().eval()
            for p in self.model.parameters():
                p.requires_grad_(False)

    @torch.no_grad()
    def per_step(self, steps: Sequence[Step], micro_batch_size: int) -> list[torch.Tensor]:
        """Per step: the reference's candidate scores (choose mode) or action-token log-probs (generate mode).

        Call it outside any graph that is still to be backpropagated: switching a LoRA model to the reference
        adapter toggles which adapter's weights require gradients."""
        model = self.policy.model
        if self.adapter is not None:
            model.set_adapter(REF_ADAPTER)
        try:
            out: list[torch.Tensor] = []
            for i in range(0, len(steps), micro_batch_size):
                ev = self.policy.evaluate(steps[i:i + micro_batch_size],
                                          model=model if self.adapter is not None else self.model)
                out += ev.extra.get("candidate_scores", ev.token_logprobs)
            return [t.detach() for t in out]
        finally:
            if self.adapter is not None:
                model.set_adapter(self.adapter)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The reference's weights: its adapters (LoRA) or its model."""
        if self.adapter is None:
            return self.model.state_dict()
        from peft import get_peft_model_state_dict

        return get_peft_model_state_dict(self.policy.model, adapter_name=REF_ADAPTER)

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        if self.adapter is None:
            self.model.load_state_dict(state)
            return
        from peft import set_peft_model_state_dict

        set_peft_model_state_dict(self.policy.model, state, adapter_name=REF_ADAPTER)
