"""What the text-generating back-ends (openai, local) share: annotate = render rubric prompts, generate, parse."""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

from llm_judges.base import Item, Judge, Label
from llm_judges.config import JudgeConfig
from llm_judges.rubrics import get_rubric

Messages = list[dict[str, str]]


class PromptedJudge(Judge):
    """A judge that answers a rubric by asking a language model and parsing its reply."""

    def __init__(self, config: JudgeConfig):
        self.config = config

    @abstractmethod
    async def generate(self, batch: list[Messages], *, n: int, temperature: float, max_tokens: int,
                       json_mode: bool = False) -> list[list[str]]:
        """`n` replies for each conversation in `batch`, batched as the back-end allows."""

    async def annotate(self, items: list[Item], rubric: str) -> list[Label]:
        spec = get_rubric(rubric)
        prompts = [spec.render(item) for item in items]
        replies = await self.generate(prompts, n=1, temperature=self.config.temperature,
                                      max_tokens=self.config.max_tokens, json_mode=spec.json_mode)
        return [Label(spec.parse(r[0], strict=self.config.strict), raw=r[0]) for r in replies]

    async def complete(self, messages: Messages, *, n: int = 1, temperature: float = 1.0, max_tokens: int = 1024,
                       json_mode: bool = False, **kwargs: Any) -> list[str]:
        return (await self.generate([messages], n=n, temperature=temperature, max_tokens=max_tokens,
                                    json_mode=json_mode))[0]


def render_prompt(messages: Messages, prompt_format: str) -> str:
    """One prompt string from chat messages, for raw-prompt (legacy completions) models.

    'llama3' is the hand-rendered Llama-3 template ONI sends (a single newline after each header, where the
    official template has two; research/oni_lare.md §1.2); 'plain' is "Role: text" blocks for models without a
    chat template.
    """
    if prompt_format == "llama3":
        body = "".join(f"<|start_header_id|>{m['role']}<|end_header_id|>\n{m['content']}<|eot_id|>" for m in messages)
        return f"<|begin_of_text|>{body}<|start_header_id|>assistant<|end_header_id|>\n"
    body = "".join(f"{m['role'].capitalize()}: {m['content']}\n\n" for m in messages)
    return f"{body}Assistant:"
