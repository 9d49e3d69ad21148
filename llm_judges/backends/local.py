"""The `local` back-end: a transformers causal LM on this machine, batched generation, nothing downloaded.

`model` is a checkpoint folder (anything `AutoModelForCausalLM.from_pretrained` reads) or "tiny", credo's
embedded default policy model (`agents.tiny_model`), which is untrained as a judge: useful to exercise the
plumbing, not for labels. Generation runs in a worker thread so the event loop (the server) keeps answering.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from llm_judges.backends.prompted import Messages, PromptedJudge, render_prompt
from llm_judges.base import JudgeError
from llm_judges.config import JudgeConfig


class LocalJudge(PromptedJudge):
    """A local Hugging Face causal LM answering rubric prompts in batches of `batch_size`."""

    name = "local"

    def __init__(self, config: JudgeConfig):
        super().__init__(config)
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from credo.hf import quiet_hf

        path = _resolve(config.model)
        try:
            with quiet_hf():
                self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
                self.model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True).to(config.device).eval()
        except (OSError, ValueError) as err:
            raise JudgeError(f"local judge: cannot load model {config.model!r}: {str(err).splitlines()[0]}") from None
        self.tokenizer.padding_side = "left"  # generation continues each row from its last real token
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token or self.tokenizer.unk_token
        self._torch = torch
        self._lock = threading.Lock()  # one generate() at a time: the model is not re-entrant
        self.generate_calls = 0
        """Number of batched generate() calls so far (batching is visible to tests and metrics)."""

    def _prompt(self, messages: Messages) -> str:
        if self.tokenizer.chat_template:
            return self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        return render_prompt(messages, "plain")

    async def generate(self, batch: list[Messages], *, n: int, temperature: float, max_tokens: int,
                       json_mode: bool = False) -> list[list[str]]:
        return await self.complete_text([self._prompt(m) for m in batch], n=n, temperature=temperature,
                                        max_tokens=max_tokens)

    async def complete_text(self, prompts: list[str], *, n: int = 1, temperature: float = 1.0,
                            max_tokens: int = 1024, **kwargs: Any) -> list[list[str]]:
        size = self.config.batch_size
        out: list[list[str]] = []
        for i in range(0, len(prompts), size):
            out += await asyncio.to_thread(self._generate, prompts[i:i + size], n, temperature, max_tokens)
        return out

    def _generate(self, prompts: list[str], n: int, temperature: float, max_tokens: int) -> list[list[str]]:
        enc = self.tokenizer(prompts, return_tensors="pt", padding=True).to(self.config.device)
        sample = temperature > 0
        with self._lock, self._torch.no_grad():
            self.generate_calls += 1
            ids = self.model.generate(
                **enc, max_new_tokens=max_tokens, do_sample=sample, num_return_sequences=n,
                pad_token_id=self.tokenizer.pad_token_id, **({"temperature": temperature} if sample else {}))
        texts = self.tokenizer.batch_decode(ids[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
        return [texts[i * n:(i + 1) * n] for i in range(len(prompts))]


def _resolve(model: str) -> str:
    """A checkpoint folder for `model`; "tiny" is credo's embedded default policy model."""
    if not model:
        raise JudgeError("local judge: set model to a checkpoint folder (or 'tiny')")
    if model == "tiny":
        try:
            from agents.tiny_model import tiny_model_path
        except ImportError:
            raise JudgeError("local judge: the embedded tiny model (agents.tiny_model) is not available") from None
        return str(tiny_model_path())
    return model
