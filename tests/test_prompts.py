"""Prompts: the history window, template errors, and prompts kept within the model's context."""

from __future__ import annotations

import pytest
import torch

from agents.policy import Policy, PolicyConfig
from agents.prompts import PromptBuilder, PromptConfig
from credo.config import ConfigError

HISTORY = [(f"goal {i} east", "east") for i in range(6)]


def test_history_window_shows_the_last_steps(policy):
    b = PromptBuilder("test", policy.tokenizer, PromptConfig(history_window=2))
    text = b.render("reach the goal", HISTORY, "goal 1 west")
    assert "goal 4 east" in text and "goal 5 east" in text and "goal 3 east" not in text
    assert text.endswith("goal 1 west . action :")
    assert b.build("reach the goal", HISTORY, "goal 1 west")[0] == policy.tokenizer.bos_token_id
    with pytest.raises(ConfigError, match="unknown or malformed placeholder"):
        PromptBuilder("test", policy.tokenizer, PromptConfig(template="{observation} {nope}"))


def test_an_over_long_prompt_shows_fewer_past_steps_first(policy):
    args = ("reach the goal", HISTORY, "goal 1 west")
    full = PromptBuilder("test", policy.tokenizer, PromptConfig(history_window=4))
    one_step = PromptBuilder("test", policy.tokenizer, PromptConfig(history_window=1)).build(*args)
    b = PromptBuilder("test", policy.tokenizer, PromptConfig(history_window=4, max_tokens=len(one_step)))
    assert len(full.build(*args)) > len(one_step)
    assert b.build(*args) == one_step and b.truncated == 1
    assert full.truncated == 0


def test_a_prompt_too_long_even_without_history_keeps_its_start_and_end(policy):
    tok = policy.tokenizer
    observation = " ".join(["goal 3 east"] * 60)
    whole = PromptBuilder("test", tok).build("reach the goal", [], observation)
    b = PromptBuilder("test", tok, max_tokens=40)
    ids = b.build("reach the goal", HISTORY, observation)
    assert len(whole) > 100 and len(ids) == 40 and b.truncated == 1
    assert ids[:10] == whole[:10] and ids[-30:] == whole[-30:]  # instruction in front, the answer cue at the end
    assert PromptBuilder("test", tok, PromptConfig(max_tokens=50), max_tokens=40).max_tokens == 50  # config wins


def test_a_small_context_model_acts_on_long_observations(policy, tmp_path):
    """GPT-2's learned positions end at n_positions: a longer prompt would be an index error mid-run."""
    from transformers import AutoConfig, AutoModelForCausalLM

    tok = policy.tokenizer
    config = AutoConfig.for_model("gpt2", vocab_size=len(tok), n_embd=32, n_layer=1, n_head=2, n_positions=96,
                                  bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    AutoModelForCausalLM.from_config(config).save_pretrained(tmp_path / "gpt2")
    tok.save_pretrained(tmp_path / "gpt2")
    small = Policy.from_config(PolicyConfig(model=str(tmp_path / "gpt2")))
    assert small.context_limit() == 96 - 64
    assert Policy.from_config(PolicyConfig(model=str(tmp_path / "gpt2"), mode="generate",
                                           max_new_tokens=16)).context_limit() == 96 - 16
    b = PromptBuilder.for_policy("test", small)
    prompt = b.build("reach the goal", HISTORY, " ".join(["goal 3 east"] * 60))
    assert len(prompt) == 32
    sample = small.act([prompt], [["east", "west"]])[0]
    assert sample.text in ("east", "west") and torch.isfinite(torch.tensor(sample.logprob))
