"""The judging interface every back-end implements (DESIGN.md, "Judges").

A judge answers two kinds of request:
- `annotate(items, rubric)`: label texts (or pairs of texts) with a named rubric, e.g. ONI's
  helpful/unhelpful message classification; an unparseable reply is a `Label` with `value=None`.
- `complete(messages, ...)`: a raw chat completion with `n` samples (LaRe's code writing, any judge).

Both are async so that a training loop can keep acting while labels are on their way.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

Item = str | tuple[str, str]
"""A text to label, or a pair of texts for pairwise rubrics (ranking)."""


class JudgeError(RuntimeError):
    """A judge could not answer; the message is one line that says why."""


class UpstreamError(JudgeError):
    """The model server behind a judge failed, timed out or is unreachable: retrying later may succeed."""


@dataclass(frozen=True)
class Label:
    """A judge's answer for one item."""

    value: float | None
    """The parsed label (classification: 0/1; ranking: 0 first, 1 second, 0.5 tie; scores: a number);
    None when the reply could not be parsed ("no label")."""
    raw: str = ""
    """The judge's raw reply (kept for logs and audits)."""
    cached: bool = False
    """Answered from a label store rather than a fresh upstream call."""


class Judge(ABC):
    """A back-end: an OpenAI-compatible server, a local transformers model, or the embedding judge."""

    name: str = "judge"

    @abstractmethod
    async def annotate(self, items: list[Item], rubric: str) -> list[Label]:
        """Label `items` with the rubric named `rubric`; one `Label` per item, in order."""

    @abstractmethod
    async def complete(self, messages: list[dict[str, str]], *, n: int = 1, temperature: float = 1.0,
                       max_tokens: int = 1024, json_mode: bool = False, **kwargs: Any) -> list[str]:
        """A chat completion: `n` sampled replies to `messages` (OpenAI message dicts)."""

    async def complete_text(self, prompts: list[str], *, n: int = 1, temperature: float = 1.0,
                            max_tokens: int = 1024, **kwargs: Any) -> list[list[str]]:
        """Legacy (raw-prompt) completions: `n` replies per prompt. Only text-generating back-ends have it."""
        raise JudgeError(f"the {self.name} judge cannot complete raw prompts")

    async def aclose(self) -> None:  # noqa: B027 (most back-ends hold nothing to release)
        """Release connections or models."""
