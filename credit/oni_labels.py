"""`LabelShuffler`: ONI's labels permuted across captions, the control arm that keeps everything but their meaning.

With `credit_config.oni.shuffle_labels=true` the reward model never sees a caption's own label: the labels that
have arrived so far are kept as a uniformly random permutation over the captions that have one. The set of
labelled captions, the rate of helpful labels and the timing are those of the real run; only which caption a
label belongs to is random. A key pick-up then earns the bonus exactly as often as any other caption would.

The permutation grows with the labels by the "inside-out" Fisher-Yates step: the n-th caption takes the label
at a uniformly drawn position j <= n, whose caption takes the new label. After every step the assignment is a
uniform permutation of all labels received, and each arrival moves at most one earlier label.
"""

from __future__ import annotations

import random
from typing import Any


class LabelShuffler:
    """Real labels in, permuted labels out (see the module docstring)."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.items: list[str] = []
        self.assigned: list[float] = []  # assigned[i]: the (someone else's) label caption items[i] gets
        self._index: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self.items)

    def add(self, labels: dict[str, float]) -> dict[str, float]:
        """Take newly arrived real labels; return every {caption: label} the reward model must (re)learn: the new
        captions and the earlier ones whose label moved. A caption labelled again keeps its place."""
        changed: dict[str, float] = {}
        for item, value in labels.items():
            if item in self._index:
                continue
            n = len(self.items)
            j = self.rng.randint(0, n)
            self.items.append(item)
            self._index[item] = n
            self.assigned.append(value)
            if j < n:
                self.assigned[n], self.assigned[j] = self.assigned[j], value
                changed[self.items[j]] = self.assigned[j]
            changed[item] = self.assigned[n]
        return changed

    def state_dict(self) -> dict[str, Any]:
        return {"items": list(self.items), "assigned": list(self.assigned), "rng": self.rng.getstate()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.items, self.assigned = list(state["items"]), [float(v) for v in state["assigned"]]
        self._index = {item: i for i, item in enumerate(self.items)}
        self.rng.setstate(state["rng"])
