"""PPO learner: the update moves log-probs the way the advantages say, accumulation is exact, KL and critic work."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from agents.learner import Learner, LearnerConfig
from agents.policy import Policy
from agents.prompts import PromptBuilder
from agents.rollout import Rollout
from tests._agent_helpers import ENV_ID, line_policy


def _steps(policy, n: int = 24, mode_generate: bool = False):
    torch.manual_seed(0)
    rollout = Rollout(policy, PromptBuilder("test", policy.tokenizer, generate=mode_generate), ENV_ID, num_envs=4,
                      seed=3, max_episode_steps=6)
    eps = rollout.collect(n)
    rollout.close()
    return [s for e in eps for s in e.steps]


@pytest.mark.parametrize("score", ["sum", "head"])
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_update_follows_the_advantage_sign(cache_dir, dtype, score):
    policy = line_policy(cache_dir, candidate_score=score)
    if dtype != "float32":  # half-precision weights (the GPU default), loaded from the tiny model's checkpoint
        from agents.tiny_model import tiny_model_path

        policy = line_policy(cache_dir, model=str(tiny_model_path([ENV_ID])), dtype=dtype, candidate_score=score)
        assert policy.model.dtype == getattr(torch, dtype)
    steps = _steps(policy)
    assert all(isinstance(s.logprob, float) and np.isfinite(s.logprob) for s in steps)
    adv = np.array([1.0 if s.action_text == "east" else -1.0 for s in steps])
    assert 0 < (adv > 0).sum() < len(adv)
    with torch.no_grad():
        before = policy.action_logprobs(steps)
    learner = Learner(policy, LearnerConfig(lr=3e-3, epochs=4, minibatch_size=16, entropy_coef=0.0))
    stats = learner.update(steps, adv)
    with torch.no_grad():
        after = policy.action_logprobs(steps)
    pos, neg = torch.tensor(adv > 0), torch.tensor(adv < 0)
    assert (after - before)[pos].mean() > 0.05 and (after - before)[neg].mean() < -0.05
    for key in ("policy_loss", "entropy", "approx_kl", "clip_frac", "grad_norm", "learner_tokens_per_s"):
        assert np.isfinite(stats[key]), key
    assert all(torch.isfinite(p).all() for p in policy.model.parameters())
    assert stats["approx_kl"] > 0 and 0 <= stats["clip_frac"] <= 1 and stats["learner_tokens"] > 0
    with pytest.raises(ValueError, match="advantages"):
        learner.update(steps, adv[:-1])


def test_gradient_accumulation_equals_one_big_batch(cache_dir):
    grads = []
    for micro in (64, 5):
        policy = line_policy(cache_dir)
        steps = _steps(policy)[:20]
        adv = np.linspace(-1, 1, len(steps))
        learner = Learner(policy, LearnerConfig(epochs=1, minibatch_size=64, micro_batch_size=micro,
                                                max_grad_norm=1e9))
        learner.update(steps, adv)
        grads.append(torch.cat([p.grad.flatten() for p in policy.model.parameters() if p.grad is not None]))
    assert grads[0].abs().sum() > 0
    assert torch.allclose(grads[0], grads[1], atol=1e-6, rtol=1e-4)


def test_kl_to_reference_starts_at_zero_and_entropy_bonus_raises_entropy(cache_dir):
    policy = line_policy(cache_dir)
    steps = _steps(policy)
    learner = Learner(policy, LearnerConfig(epochs=1, minibatch_size=256, kl_coef=0.1))
    assert learner.reference is not None
    stats = learner.update(steps, np.zeros(len(steps)))
    assert stats["kl_ref"] == pytest.approx(0.0, abs=1e-6)  # one minibatch: scored before the first step
    stats = learner.update(steps, np.where([s.action_text == "east" for s in steps], 1.0, -1.0))
    assert stats["kl_ref"] > 0
    # sharpen the policy first (at initialisation the candidate entropy is already near its maximum, ln 3)
    policy = line_policy(cache_dir)
    sharpen = np.where([s.action_text == "east" for s in steps], 1.0, -1.0)
    Learner(policy, LearnerConfig(lr=3e-3, epochs=4, minibatch_size=16, entropy_coef=0.0)).update(steps, sharpen)
    with torch.no_grad():
        h0 = policy.evaluate(steps).entropy.mean()
    Learner(policy, LearnerConfig(lr=1e-3, epochs=3, entropy_coef=1.0)).update(steps, np.zeros(len(steps)))
    with torch.no_grad():
        assert policy.evaluate(steps).entropy.mean() > h0 + 0.01


@pytest.mark.parametrize("score", ["sum", "head"])
@pytest.mark.parametrize("lora", [False, True])
def test_kl_reference_is_the_initial_policy_and_survives_a_checkpoint(cache_dir, tmp_path, lora, score):
    """The reference is the policy as the learner found it (here an already-trained one, not the base model); a
    LoRA policy keeps it as a frozen second adapter (no model copy) that the policy's checkpoints leave out. With
    the head, the reference has a frozen head of its own (LoRA: peft's copy for the reference adapter)."""
    from agents.reference import REF_ADAPTER

    policy = line_policy(cache_dir, lora=lora, candidate_score=score)
    with torch.no_grad():  # trained weights: the reference must be these, not the base model's
        for _name, param in policy.model.named_parameters():
            if param.requires_grad:
                param.add_(0.05 * torch.randn_like(param))
    steps = _steps(policy)
    prompts, cands = [s.prompt_ids for s in steps], [s.candidates for s in steps]
    with torch.no_grad():
        initial = torch.cat(policy.candidate_scores(prompts, cands)[0])
    n_params = sum(p.numel() for p in policy.model.parameters())
    learner = Learner(policy, LearnerConfig(lr=1e-2, epochs=2, minibatch_size=16, kl_coef=0.1))
    if lora:
        assert learner.reference.model is None  # no second model
        ref_params = [p for n, p in policy.model.named_parameters() if REF_ADAPTER in n]
        trainable = {id(p) for g in learner.optimizer.param_groups for p in g["params"]}
        assert sum(p.numel() for p in ref_params) == sum(p.numel() for p in policy.model.parameters()) - n_params
        assert ref_params and not any(p.requires_grad or id(p) in trainable for p in ref_params)
        assert any("credo_head" in n for n, p in policy.model.named_parameters() if REF_ADAPTER in n) == (
            score == "head")
    else:
        assert not any(p.requires_grad for p in learner.reference.model.parameters())
    stats = learner.update(steps, np.where([s.action_text == "east" for s in steps], 1.0, -1.0))
    assert stats["kl_ref"] > 0
    with torch.no_grad():
        moved = torch.cat(policy.candidate_scores(prompts, cands)[0])
    assert not torch.allclose(moved, initial, atol=1e-3)
    assert torch.allclose(torch.cat(learner.reference.per_step(steps, 8)), initial, atol=1e-5)
    if lora:  # scoring under the reference adapter left the policy's own adapter (and head) the one that trains
        assert all(p.requires_grad == (REF_ADAPTER not in n) for n, p in policy.model.named_parameters()
                   if "lora_" in n or "modules_to_save" in n)

    policy.save(tmp_path / "ckpt")  # what the trainer checkpoints: the policy, and the learner's state
    assert not list((tmp_path / "ckpt").rglob(f"*{REF_ADAPTER}*"))
    resumed = Policy.load(tmp_path / "ckpt")
    with torch.no_grad():
        assert torch.allclose(torch.cat(resumed.candidate_scores(prompts, cands)[0]), moved, atol=1e-5)
    again = Learner(resumed, LearnerConfig(kl_coef=0.1))
    again.load_state_dict(learner.state_dict())
    assert torch.allclose(torch.cat(again.reference.per_step(steps, 8)), initial, atol=1e-5)


def test_value_head_regresses_to_targets(cache_dir):
    policy = line_policy(cache_dir)
    steps = _steps(policy)
    # lr 1e-3: Adam at 1e-2 on the whole model overshoots and oscillates (mean value 0.2 -> 2.0 -> 0.8 -> -0.4)
    learner = Learner(policy, LearnerConfig(lr=1e-3, epochs=8, value_coef=1.0), value_head=True)
    assert np.allclose(learner.values(steps), 0.0)
    learner.update(steps, np.zeros(len(steps)), value_targets=np.ones(len(steps)))
    v = learner.values(steps)
    assert v.mean() > 0.5 and v.shape == (len(steps),)
    state = learner.state_dict()
    other = Learner(policy, LearnerConfig(), value_head=True)
    other.load_state_dict(state)
    assert np.allclose(other.values(steps), v)


def test_generate_mode_update_is_token_level(cache_dir):
    policy = line_policy(cache_dir, mode="generate", max_new_tokens=4)
    steps = _steps(policy, n=8, mode_generate=True)
    assert all(s.candidates is None for s in steps)
    adv = np.ones(len(steps))
    with torch.no_grad():
        before = policy.action_logprobs(steps)
    stats = Learner(policy, LearnerConfig(lr=3e-3, epochs=2, entropy_coef=0.0)).update(steps, adv)
    with torch.no_grad():
        after = policy.action_logprobs(steps)
    assert (after > before).float().mean() > 0.8
    assert np.isfinite(stats["policy_loss"])
