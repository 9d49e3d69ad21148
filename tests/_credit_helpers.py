"""Shared by the credit tests: the real `agents.policy.Policy` around a tiny Llama built here, and episode builders.

The tokenizer is a word-level one over a 24-token vocabulary, so tests write token ids directly; steps are
scored in generate mode (log pi(a|prompt) = sum of the action tokens' log-probs).
"""

from __future__ import annotations

import torch
from tokenizers import Tokenizer
from tokenizers.models import WordLevel
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from agents.policy import Policy, PolicyConfig
from credo.trajectory import Episode, Step

VOCAB = 24


def tiny_policy(seed: int = 0) -> Policy:
    """A 1-layer, 32-wide Llama (ids 0 pad, 1 bos, 2 eos) wrapped in credo's Policy, on CPU."""
    torch.set_num_threads(1)  # tiny matrices: threads only add contention on a shared machine
    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                      num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=64,
                      bos_token_id=1, eos_token_id=2, pad_token_id=0)
    vocab = {"<pad>": 0, "<s>": 1, "</s>": 2} | {f"w{i}": i for i in range(3, VOCAB)}
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(WordLevel(vocab, unk_token="<pad>")),
                                        pad_token="<pad>", bos_token="<s>", eos_token="</s>")
    config = PolicyConfig(mode="generate", device="cpu", dtype="float32")
    return Policy(config, LlamaForCausalLM(cfg).eval(), tokenizer, base="test")


def make_episode(eid: str, group: str, prompts: list[list[int]], actions: list[list[int]], *,
                 success: bool, policy: Policy | None = None, valid: list[bool] | None = None) -> Episode:
    """An episode whose step t saw `prompts[t]` and took `actions[t]`; log-probs scored by `policy` if given."""
    steps = [
        Step(episode_id=eid, group_id=group, step_index=t, observation=f"obs {p}", prompt_ids=p, action_ids=a,
             action_text=str(a), logprob=0.0, valid_action=True if valid is None else valid[t],
             reward=float(success) if t == len(prompts) - 1 else 0.0, done=t == len(prompts) - 1)
        for t, (p, a) in enumerate(zip(prompts, actions, strict=True))
    ]
    if policy is not None:
        with torch.no_grad():
            for s, lp in zip(steps, policy.action_logprobs(steps).tolist(), strict=True):
                s.logprob = lp
    return Episode(episode_id=eid, group_id=group, env_id="test", seed=0, instruction="", steps=steps,
                   success=success, score=float(success))


def text_episode(eid: str, group: str, observations: list[str], rewards: list[float], success: bool = False) -> Episode:
    """An episode with the given observations and env rewards (token ids are placeholders)."""
    steps = [
        Step(episode_id=eid, group_id=group, step_index=t, observation=o, prompt_ids=[1], action_ids=[2],
             action_text="a", logprob=0.0, reward=r, done=t == len(observations) - 1)
        for t, (o, r) in enumerate(zip(observations, rewards, strict=True))
    ]
    return Episode(episode_id=eid, group_id=group, env_id="test", seed=0, instruction="", steps=steps,
                   success=success, score=float(success))
