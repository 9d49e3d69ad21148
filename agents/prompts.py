"""Prompts: instruction + a bounded window of recent (observation, action) pairs + the current observation.

One template per env family (`FAMILY_TEMPLATES`), overridable from the config. Training uses one sample per
step, so the prompt is rebuilt at every step from the episode's instruction and its last `history_window`
steps: context never grows with episode length (DESIGN.md, "Trajectories").

When the tokenizer has a chat template (instruct models), the rendered text becomes one user message and the
chat template adds the assistant header; the tiny default model has none and sees the plain text, which keeps
its prompts short (calibration.md: <= 16 tokens for the Room tasks).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from pydantic import Field

from credo.config import Config, ConfigError


@dataclass(frozen=True)
class Template:
    """How one family's prompt is laid out. Fields are `str.format` templates."""

    prompt: str
    """The whole prompt; placeholders {instruction}, {history}, {observation}, {actions}."""
    history_item: str = "{observation} > {action} ; "
    """One past step inside {history}; placeholders {observation}, {action}."""
    actions: str = " admissible : {actions} ."
    """The admissible-action list (generate mode only); placeholder {actions} (joined by ' | ')."""
    history_window: int = 2
    """Default number of past (observation, action) pairs shown."""


GENERATE_SUFFIX = " Think in <think>...</think>, then answer with <action>...</action>."
"""Appended in generate mode: the ReAct-style output format that `agents.policy.parse_action` reads."""

FAMILY_TEMPLATES: dict[str, Template] = {
    # Grid worlds: the observation already says where things are; the instruction is the same at every step
    # and the tiny model learns faster without it (calibration.md), so it is left out.
    "minihack": Template("{history}{observation}{actions} . action :", history_window=0),
    "nethack": Template("{instruction} . {history}{observation}{actions} . action :", history_window=2),
    "textworld": Template("{instruction} . {history}{observation}{actions} . action :", history_window=2),
    # Every shop page already shows the instruction, and option clicks leave the item page unchanged: the history
    # is the last actions, not whole past pages (~220-token prompts instead of three pages).
    "webshop": Template("{history}{observation}{actions} . action :", history_item="{action} ; ", history_window=3),
}
DEFAULT_TEMPLATE = Template("{instruction} . {history}{observation}{actions} . action :", history_window=2)
"""Families without their own template (plug-ins, test envs) use this one."""


class PromptConfig(Config):
    """Prompt layout; None keeps the env family's default (agents/prompts.py, FAMILY_TEMPLATES)."""

    template: str | None = Field(None, description="Prompt template overriding the family's; placeholders "
                                 "{instruction}, {history}, {observation}, {actions}.")
    history_item: str | None = Field(None, description="Template of one past step in {history}; placeholders "
                                     "{observation}, {action}.")
    history_window: int | None = Field(None, ge=0, description="Past (observation, action) pairs shown in the "
                                       "prompt; None keeps the family's default.")
    use_chat_template: bool = Field(True, description="Wrap the prompt in the tokenizer's chat template when it "
                                    "has one.")
    max_tokens: int | None = Field(None, ge=16, description="Longest prompt in tokens (None: the model's context "
                                   "length less room for the action). A longer one first shows fewer past steps, "
                                   "then loses tokens from its middle, keeping its start and its end.")


class PromptBuilder:
    """Turns (instruction, history, observation, admissible actions) into prompt token ids for one env family."""

    def __init__(self, family: str, tokenizer: Any = None, config: PromptConfig | None = None,
                 generate: bool = False, max_tokens: int | None = None) -> None:
        config = config or PromptConfig()
        base = FAMILY_TEMPLATES.get(family, DEFAULT_TEMPLATE)
        self.template = Template(
            prompt=config.template or base.prompt,
            history_item=config.history_item or base.history_item,
            actions=base.actions,
            history_window=base.history_window if config.history_window is None else config.history_window,
        )
        self._check(self.template)
        self.tokenizer = tokenizer
        self.generate = generate
        self.use_chat = bool(config.use_chat_template and tokenizer is not None
                             and getattr(tokenizer, "chat_template", None))
        # prompts recur (a group's members start alike; small worlds revisit states): encode each text once
        self._encode = functools.lru_cache(maxsize=4096)(self._encode_text)
        self.max_tokens = config.max_tokens or max_tokens
        self.truncated = 0
        """Prompts built so far that were over `max_tokens` (fewer past steps shown, or cut in the middle)."""

    @classmethod
    def for_policy(cls, family: str, policy: Any, config: PromptConfig | None = None) -> PromptBuilder:
        """The builder a policy acts with: its tokenizer, its mode, prompts no longer than its context allows."""
        return cls(family, policy.tokenizer, config, generate=policy.config.mode == "generate",
                   max_tokens=policy.context_limit())

    @staticmethod
    def _check(t: Template) -> None:
        """A bad template is a one-line config error now, not a KeyError mid-run."""
        try:
            t.prompt.format(instruction="", history="", observation="", actions="")
            t.history_item.format(observation="", action="")
        except (KeyError, IndexError, ValueError) as err:
            raise ConfigError(f"prompt template: unknown or malformed placeholder {err}") from None

    @property
    def history_window(self) -> int:
        return self.template.history_window

    def render(self, instruction: str, history: list[tuple[str, str]], observation: str,
               admissible: list[str] | None = None, window: int | None = None) -> str:
        """The prompt as text (before any chat template), showing the last `window` steps (default: the
        template's `history_window`)."""
        n = self.history_window if window is None else window
        shown = history[-n:] if n > 0 else []
        hist = "".join(self.template.history_item.format(observation=o, action=a) for o, a in shown)
        actions = self.template.actions.format(actions=" | ".join(admissible)) if (
            self.generate and admissible) else ""
        text = self.template.prompt.format(instruction=instruction, history=hist, observation=observation,
                                           actions=actions)
        return text + GENERATE_SUFFIX if self.generate else text

    def build(self, instruction: str, history: list[tuple[str, str]], observation: str,
              admissible: list[str] | None = None) -> list[int]:
        """Prompt token ids: the rendered text, through the chat template when the tokenizer has one."""
        if self.tokenizer is None:
            raise ValueError("PromptBuilder.build needs a tokenizer")
        ids = self._encode(self.render(instruction, history, observation, admissible))
        limit = self.max_tokens
        if limit is None or len(ids) <= limit:
            return list(ids)
        self.truncated += 1
        for window in range(min(len(history), self.history_window) - 1, -1, -1):  # fewer past steps first
            ids = self._encode(self.render(instruction, history, observation, admissible, window))
            if len(ids) <= limit:
                return list(ids)
        head = limit // 4  # the start (chat header, instruction) and the end (observation, answer cue) stay
        return list(ids[:head] + ids[len(ids) - (limit - head):])

    def _encode_text(self, text: str) -> tuple[int, ...]:
        if self.use_chat:
            ids = self.tokenizer.apply_chat_template([{"role": "user", "content": text}], tokenize=True,
                                                     add_generation_prompt=True)
            if isinstance(ids, dict) or hasattr(ids, "input_ids"):  # BatchEncoding in some versions
                ids = ids["input_ids"]
            return tuple(ids)
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        bos = self.tokenizer.bos_token_id
        return ((bos,) if bos is not None else ()) + tuple(ids)
