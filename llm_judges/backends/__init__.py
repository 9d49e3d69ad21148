"""Judge back-ends, made by name from a `JudgeConfig` (each imports its heavy libraries only when built)."""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module

from llm_judges.base import Judge
from llm_judges.config import JudgeConfig

BACKENDS: dict[str, str] = {
    "openai": "llm_judges.backends.openai_backend:OpenAIJudge",
    "local": "llm_judges.backends.local:LocalJudge",
    "embedding": "llm_judges.backends.embedding:EmbeddingJudge",
}
"""Back-end name -> "module:class"; the class is built with the `JudgeConfig`."""


def make_judge(config: JudgeConfig | None = None) -> Judge:
    """Build the back-end `config.backend` (default: the offline embedding judge)."""
    config = config or JudgeConfig()
    module, cls = BACKENDS[config.backend].split(":")
    factory: Callable[[JudgeConfig], Judge] = getattr(import_module(module), cls)
    return factory(config)
