"""Small episode helpers shared by the credit modules: which number is "the outcome", and group indexing."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from agents.trajectory import Episode

OutcomeSource = Literal["return", "success", "score"]
"""Which episode number a module treats as the sparse outcome: the sum of env rewards, `success` (0/1) or `score`."""


def outcome(episode: Episode, source: OutcomeSource) -> float:
    """The episode's outcome as the module's config chooses it."""
    if source == "success":
        return float(episode.success)
    if source == "score":
        return float(episode.score)
    return episode.total_reward


def groups(episodes: list[Episode]) -> dict[str, list[int]]:
    """Indices of `episodes` by `group_id` (same task and seed), in batch order."""
    out: dict[str, list[int]] = defaultdict(list)
    for i, ep in enumerate(episodes):
        out[ep.group_id].append(i)
    return dict(out)
