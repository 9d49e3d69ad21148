"""The `openai` back-end: any OpenAI-compatible server (vLLM, OpenAI, Ollama, llama.cpp, FastChat, credo itself).

Retries with exponential backoff on 429, 5xx, timeouts and connection errors are the official `openai` package's
own (`max_retries`, honouring Retry-After); a failure that survives them becomes a one-line `UpstreamError`, and so
does a reply that is not an OpenAI completion (a 200 with a non-JSON body, or JSON of another shape).
"""

from __future__ import annotations

import asyncio
from typing import Any

import openai

from llm_judges.backends.prompted import Messages, PromptedJudge, render_prompt
from llm_judges.base import JudgeError, UpstreamError
from llm_judges.config import JudgeConfig


class OpenAIJudge(PromptedJudge):
    """Chat completions (one conversation per request, `concurrency` at once) or legacy completions
    (`batch_size` pre-rendered prompts per request, as ONI's annotator sends them)."""

    name = "openai"

    def __init__(self, config: JudgeConfig):
        super().__init__(config)
        self.client = openai.AsyncOpenAI(base_url=config.base_url, api_key=config.api_key or "EMPTY",
                                         timeout=config.timeout_s, max_retries=config.max_retries)
        self._slots = asyncio.Semaphore(config.concurrency)
        self._model = config.model

    async def model(self) -> str:
        """The model name to ask for: the configured one, else the server's first listed model."""
        if not self._model:
            models = await self._call(self.client.models.list)
            if not models.data:
                raise UpstreamError(f"{self.config.base_url}: the server lists no models")
            self._model = models.data[0].id
        return self._model

    async def _call(self, fn: Any, **kwargs: Any) -> Any:
        """One upstream request under the concurrency limit, its failures turned into one-line errors."""
        async with self._slots:
            try:
                return await fn(**kwargs)
            except (openai.APIConnectionError, openai.APITimeoutError, openai.RateLimitError,
                    openai.InternalServerError) as err:
                raise UpstreamError(f"{self.config.base_url}: {type(err).__name__}: {_first_line(err)}") from None
            except openai.APIStatusError as err:
                retry = UpstreamError if err.status_code >= 500 or err.status_code == 429 else JudgeError
                raise retry(f"{self.config.base_url}: HTTP {err.status_code}: {_first_line(err)}") from None
            except (ValueError, openai.APIResponseValidationError) as err:  # a 200 whose body is not JSON (a proxy's
                # error page): like any other upstream fault, worth retrying later (json.JSONDecodeError is a ValueError)
                raise UpstreamError(f"{self.config.base_url}: the reply is not JSON: {type(err).__name__}: "
                                    f"{_first_line(err)}") from None

    def _choices(self, out: Any, expected: int) -> list[Any]:
        """The reply's choices in index order; a reply that is not a completion is a one-line UpstreamError."""
        choices = getattr(out, "choices", None)
        if not isinstance(choices, list):
            raise UpstreamError(f"{self.config.base_url}: the reply is not an OpenAI completion: {str(out)[:80]!r}")
        if len(choices) != expected:
            raise UpstreamError(f"{self.config.base_url}: asked for {expected} choices, got {len(choices)}")
        return sorted(choices, key=lambda c: c.index)

    async def generate(self, batch: list[Messages], *, n: int, temperature: float, max_tokens: int,
                       json_mode: bool = False) -> list[list[str]]:
        if self.config.api == "completions":
            prompts = [render_prompt(m, self.config.prompt_format) for m in batch]
            return await self.complete_text(prompts, n=n, temperature=temperature, max_tokens=max_tokens)
        model = await self.model()
        extra = {"response_format": {"type": "json_object"}} if json_mode else {}

        async def one(messages: Messages) -> list[str]:
            out = await self._call(self.client.chat.completions.create, model=model, messages=messages, n=n,
                                   temperature=temperature, max_tokens=max_tokens, **extra)
            return [c.message.content or "" for c in self._choices(out, n)]

        return list(await asyncio.gather(*(one(m) for m in batch)))

    async def complete_text(self, prompts: list[str], *, n: int = 1, temperature: float = 1.0,
                            max_tokens: int = 1024, **kwargs: Any) -> list[list[str]]:
        model = await self.model()
        size = self.config.batch_size

        async def chunk(part: list[str]) -> list[list[str]]:
            out = await self._call(self.client.completions.create, model=model, prompt=part, n=n,
                                   temperature=temperature, max_tokens=max_tokens)
            choices = self._choices(out, n * len(part))
            # Choices of a list prompt come prompt-major: index = prompt * n + sample.
            return [[c.text or "" for c in choices[i * n:(i + 1) * n]] for i in range(len(part))]

        parts = await asyncio.gather(*(chunk(prompts[i:i + size]) for i in range(0, len(prompts), size)))
        return [replies for part in parts for replies in part]

    async def aclose(self) -> None:
        await self.client.close()


def _first_line(err: Exception) -> str:
    text = str(getattr(err, "message", None) or err).strip()
    return text.splitlines()[0][:200] if text else "no detail"
