"""Model families users load instead of the tiny Llama, as local checkpoints.

Each is built small from its config with the tiny tokenizer and saved, then loaded through `policy.model=<folder>`
exactly as a downloaded checkpoint would be (scoring candidates by log-likelihood or with the head). What differs
between families is what packed scoring relies on:
grouped-query attention (Qwen2), a fused qkv projection (Phi-3), learned absolute positions and Conv1D layers
(GPT-2), scaled embeddings (Gemma), sliding-window attention (Mistral; Qwen2 with windowed and full layers). On
each: the three scoring paths agree with gradients under both attention kernels, generate mode's log-probs re-score
exactly, and a LoRA policy learns in the advantage's direction.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from agents.learner import Learner, LearnerConfig
from agents.policy import Policy, PolicyConfig
from agents.prompts import PromptBuilder
from agents.rollout import Rollout
from credo.config import ConfigError
from credo.trajectory import Step
from tests._agent_helpers import ENV_ID, randomize_head

SMALL = {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 128}
ARCHS: dict[str, tuple[str, dict[str, Any]]] = {  # name: (model_type, config fields)
    "qwen2": ("qwen2", {**SMALL, "num_key_value_heads": 2}),
    "phi3": ("phi3", {**SMALL, "num_key_value_heads": 4}),
    "gpt2": ("gpt2", {"n_embd": 64, "n_layer": 2, "n_head": 4, "n_positions": 512}),
    "gemma": ("gemma", {**SMALL, "num_key_value_heads": 1, "head_dim": 16}),
    # sliding windows shorter than the prompts: every layer (Mistral), or one of two (Qwen2, a mask per layer type)
    "mistral-window4": ("mistral", {**SMALL, "num_key_value_heads": 2, "sliding_window": 4}),
    "qwen2-window4": ("qwen2", {**SMALL, "num_key_value_heads": 2, "use_sliding_window": True, "sliding_window": 4,
                                "max_window_layers": 1}),
}
CANDS = [["east", "west", "wait"], ["west", "north east"]]


@pytest.fixture(scope="module")
def checkpoints(policy, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One small random checkpoint per family, saved with the tiny tokenizer like a downloaded model."""
    from transformers import AutoConfig, AutoModelForCausalLM

    tok = policy.tokenizer
    root = tmp_path_factory.mktemp("archs")
    out = {}
    for name, (model_type, fields) in ARCHS.items():
        torch.manual_seed(0)
        config = AutoConfig.for_model(model_type, vocab_size=len(tok), max_position_embeddings=512,
                                      bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                                      pad_token_id=tok.pad_token_id, **fields)
        out[name] = root / name
        AutoModelForCausalLM.from_config(config).save_pretrained(out[name])
        tok.save_pretrained(out[name])
    return out


def _load(folder: Path, **fields: Any) -> Policy:
    torch.manual_seed(0)
    return Policy.from_config(PolicyConfig(model=str(folder), **fields))


def _prompts(policy: Policy, generate: bool = False) -> list[list[int]]:
    b = PromptBuilder("test", policy.tokenizer, generate=generate)
    return [b.build("reach the goal", [], "goal 3 east", ["east", "west"] if generate else None),
            b.build("reach the goal", [("goal 1 east", "east")] * 4, "goal 2 west", ["west"] if generate else None)]


@pytest.mark.parametrize("score", ["sum", "head"])
@pytest.mark.parametrize("arch", list(ARCHS))
@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_scoring_paths_agree_with_gradients(checkpoints, arch, attn, score):
    p = _load(checkpoints[arch], candidate_score=score)
    if score == "head":  # a fresh head is zero: no gradient would reach the model
        randomize_head(p.model)
    p.model.config._attn_implementation = attn
    prompts = _prompts(p)
    weight = next(w for w in p.model.parameters() if w.dim() == 2 and w.shape[0] != len(p.tokenizer))
    scores, grads = {}, {}
    for batching in ("full", "cached", "packed"):
        p.model.zero_grad()
        s = torch.cat(p.candidate_scores(prompts, CANDS, batching=batching)[0])
        (s * torch.linspace(-1, 1, len(s))).sum().backward()
        scores[batching], grads[batching] = s.detach(), weight.grad.clone()
    assert bool(torch.isfinite(scores["full"]).all()) and scores["full"].std() > 0
    for batching in ("cached", "packed"):
        assert torch.allclose(scores[batching], scores["full"], atol=1e-5), (batching, scores)
        assert grads[batching].abs().sum() > 0
        assert torch.allclose(grads[batching], grads["full"], atol=1e-5), batching


@pytest.mark.parametrize("arch", list(ARCHS))
def test_generate_mode_logprobs_rescore_exactly(checkpoints, arch):
    p = _load(checkpoints[arch], mode="generate", max_new_tokens=6)
    prompts = _prompts(p, generate=True)
    prompts += prompts  # repeated prompts: encoded once, the KV cache copied to each copy's row
    samples = p.act(prompts)
    assert all(1 <= len(s.action_ids) <= 6 for s in samples)
    steps = [Step("e", "g", 0, "", q, s.action_ids, s.text, s.logprob, s.token_logprobs)
             for q, s in zip(prompts, samples, strict=True)]
    with torch.no_grad():
        again = p.action_logprobs(steps)
    assert torch.allclose(again, torch.tensor([s.logprob for s in samples]), atol=1e-4)


@pytest.mark.parametrize("score", ["sum", "head"])
@pytest.mark.parametrize("arch", list(ARCHS))
def test_lora_policy_learns_in_the_advantage_direction(checkpoints, arch, tmp_path, score):
    p = _load(checkpoints[arch], lora=True, candidate_score=score)
    assert any("lora" in n for n, w in p.model.named_parameters() if w.requires_grad)
    assert any("credo_head" in n for n, w in p.model.named_parameters() if w.requires_grad) == (score == "head")
    rollout = Rollout(p, PromptBuilder("test", p.tokenizer), ENV_ID, num_envs=4, seed=3, max_episode_steps=6)
    steps = [s for e in rollout.collect(24) for s in e.steps]
    rollout.close()
    adv = np.array([1.0 if s.action_text == "east" else -1.0 for s in steps])
    assert 0 < (adv > 0).sum() < len(adv)
    with torch.no_grad():
        before = p.action_logprobs(steps)
    Learner(p, LearnerConfig(lr=1e-2, epochs=4, minibatch_size=16, entropy_coef=0.0)).update(steps, adv)
    with torch.no_grad():
        gain = p.action_logprobs(steps) - before
    assert gain[torch.tensor(adv > 0)].mean() > 0.02 and gain[torch.tensor(adv < 0)].mean() < -0.02
    p.save(tmp_path / "ckpt")  # adapters only, over the local base checkpoint
    with torch.no_grad():
        assert torch.allclose(Policy.load(tmp_path / "ckpt").action_logprobs(steps), before + gain, atol=1e-4)


def test_chat_template_wraps_the_prompt_of_an_instruct_checkpoint(checkpoints, tmp_path):
    """An instruct model's checkpoint carries a chat template: the prompt becomes one user turn followed by the
    assistant header, so candidates (choose) or the written answer (generate) sit where the model answers."""
    from agents.prompts import PromptConfig

    p = _load(checkpoints["qwen2"])
    p.tokenizer.chat_template = ("{% for m in messages %}<user> {{ m['content'] }} {% endfor %}"
                                 "{% if add_generation_prompt %}<assistant>{% endif %}")
    p.tokenizer.save_pretrained(tmp_path / "instruct")
    p.model.save_pretrained(tmp_path / "instruct")
    inst = _load(tmp_path / "instruct")
    args = ("reach the goal", [("goal 1 east", "east")], "goal 2 west")
    text = PromptBuilder("test", inst.tokenizer).render(*args)
    ids = PromptBuilder("test", inst.tokenizer).build(*args)
    assert ids == inst.tokenizer(f"<user> {text} <assistant>", add_special_tokens=False)["input_ids"]
    plain = PromptBuilder("test", inst.tokenizer, PromptConfig(use_chat_template=False)).build(*args)
    assert plain == [inst.tokenizer.bos_token_id, *inst.tokenizer(text, add_special_tokens=False)["input_ids"]]
    sample = inst.act([ids], [CANDS[0]])[0]
    assert sample.text in CANDS[0] and np.isfinite(sample.logprob)


def test_gradient_checkpointing_and_attention_kernel_options(checkpoints):
    """`gradient_checkpointing` drops the KV cache inside checkpointed layers, so a training forward of the cached
    path runs as full scoring: same scores and gradients as without checkpointing. `attn_implementation` picks the
    kernel at load; a kernel transformers does not know is a one-line config error."""
    plain = _load(checkpoints["qwen2"], attn_implementation="eager")
    ckpt = _load(checkpoints["qwen2"], attn_implementation="eager", gradient_checkpointing=True,
                 candidate_batching="cached")
    assert plain.model.config._attn_implementation == "eager"
    prompts = _prompts(plain)
    out = {}
    for name, p in (("plain", plain), ("checkpointed", ckpt)):
        p.model.train()
        p.model.zero_grad()
        s = torch.cat(p.candidate_scores(prompts, CANDS)[0])
        s.sum().backward()
        out[name] = (s.detach(), p.model.model.layers[0].self_attn.q_proj.weight.grad.clone())
    assert torch.allclose(out["plain"][0], out["checkpointed"][0], atol=1e-5)
    assert torch.allclose(out["plain"][1], out["checkpointed"][1], atol=1e-5)
    missing = [] if importlib.util.find_spec("flash_attn") else ["flash_attention_2"]  # known, package missing
    for kernel in ["no_such_kernel", *missing]:
        with pytest.raises(ConfigError, match="policy.model: cannot load") as err:
            _load(checkpoints["qwen2"], attn_implementation=kernel)
        assert "\n" not in str(err.value)


def test_learner_switches_dropout_off(checkpoints):
    """GPT-2 ships with dropout 0.1: left on, the PPO ratio against the acting log-probs is noise from the start."""
    p = _load(checkpoints["gpt2"])
    steps = [Step("e", "g", 0, "", q, [], c[0], 0.0, candidates=c)
             for q, c in zip(_prompts(p), CANDS, strict=True)]
    p.model.train()
    with torch.no_grad():
        assert not torch.allclose(p.action_logprobs(steps), p.action_logprobs(steps))
    Learner(p)
    p.model.train()
    with torch.no_grad():
        assert torch.allclose(p.action_logprobs(steps), p.action_logprobs(steps))
