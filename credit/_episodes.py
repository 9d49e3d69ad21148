"""Which number of an episode the credit modules treat as "the outcome" (group indexing: `credo.trajectory`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from credo.trajectory import Episode

OutcomeSource = Literal["return", "success", "score"]
"""Which episode number a module treats as the sparse outcome: the sum of env rewards, `success` (0/1) or `score`."""


def outcome(episode: Episode, source: OutcomeSource) -> float:
    """The episode's outcome as the module's config chooses it."""
    if source == "success":
        return float(episode.success)
    if source == "score":
        return float(episode.score)
    return episode.total_reward
