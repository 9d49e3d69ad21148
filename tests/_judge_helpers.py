"""Shared pieces of the judge tests: a tiny local checkpoint and a controllable in-process judge."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from llm_judges.base import Item, Judge, Label, UpstreamError

WORDS = ["FOO", "BAR", "<label>", "</label>", "gold", "door", "kill", "the", "a", "you", "message", "rate",
         "system", "user", "assistant", ":", ".", "!", "is", "closed", "helpful", "nethack"]


def build_tiny_checkpoint(path: Path) -> Path:
    """A random 1-layer Llama and a word-level tokenizer trained here, saved as a normal HF checkpoint."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator([" ".join(WORDS)] * 3, trainers.WordLevelTrainer(
        special_tokens=["<pad>", "<bos>", "<eos>", "<unk>"]))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", bos_token="<bos>", eos_token="<eos>",
                                   unk_token="<unk>")
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=tok.get_vocab_size(), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                      num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=4096,
                      pad_token_id=0, bos_token_id=1, eos_token_id=2)
    LlamaForCausalLM(cfg).save_pretrained(path)
    fast.save_pretrained(path)
    return path


class ScriptedJudge(Judge):
    """In-process judge: labels by rule after `delay_s`; fails with UpstreamError while `down` is set, and a whole
    call raises TypeError when one of its items contains `poison` (as a tokenizer does on input it cannot encode)."""

    name = "scripted"

    def __init__(self, delay_s: float = 0.0, poison: str | None = None):
        self.delay_s, self.down, self.poison = delay_s, False, poison
        self.calls: list[list[Item]] = []

    async def annotate(self, items: list[Item], rubric: str) -> list[Label]:
        self.calls.append(list(items))
        await asyncio.sleep(self.delay_s)
        if self.down:
            raise UpstreamError("scripted outage")
        if self.poison is not None and any(self.poison in str(i) for i in items):
            raise TypeError("TextEncodeInput must be Union[TextInputSequence, Tuple[InputSequence, InputSequence]]")
        return [Label(1.0 if "gold" in str(i) else 0.0, raw="rule") for i in items]

    async def complete(self, messages: list[dict[str, str]], **kwargs: Any) -> list[str]:
        return ["ok"]
