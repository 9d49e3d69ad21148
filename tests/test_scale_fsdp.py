"""The FSDP2 learner: a 2-rank gloo update of a fixed batch equals the single-process update (fp32, max parameter
difference < 1e-5) in choose and generate mode, a distributed checkpoint resumes to the same weights, and the
token-balanced shards are balanced."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from agents.fsdp_learner import token_shards
from agents.learner import Learner, LearnerConfig
from agents.prompts import PromptBuilder
from agents.publish import trainable_weights
from agents.rollout import Rollout
from tests._agent_helpers import ENV_ID, line_policy

LEARNER = {"epochs": 2, "minibatch_size": 24, "micro_batch_size": 5, "lr": 1e-4}
"""lr 1e-4: Adam turns float-order noise in near-zero gradients into steps of up to ~lr/100, so at 1e-3 even one
process with another micro-batch size moves weights by ~1e-5 (measured); the gradient norm and loss statistics,
which Adam's scale invariance would hide, are compared as well."""
NULL_GRAD = "credo_head.linear.bias"
"""The choose head's bias adds the same to every candidate of a prompt, so the softmax's gradient for it is 0 up to
float rounding, and Adam turns that rounding (summed in another order on 2 ranks) into steps of ~lr: it differs by
~1e-4 and can change no action's probability. Every other weight is compared."""
ROOT = Path(__file__).resolve().parents[1]


def test_token_shards_balance_and_cover():
    tokens = [50, 10, 10, 10, 10, 10, 3, 40]
    shards = token_shards(tokens, 2)
    assert sorted(j for s in shards for j in s) == list(range(len(tokens)))
    loads = [sum(tokens[j] for j in s) for s in shards]
    assert abs(loads[0] - loads[1]) <= 10 and all(s == sorted(s) for s in shards)
    assert token_shards([5], 2) == [[0], []]


def _batch(cache_dir: Path, folder: Path, mode: str) -> tuple[dict[str, float], dict[str, torch.Tensor]]:
    """A saved initial policy and a batch it collected; returns the batch and the single-process update."""
    extra = {"mode": "generate", "max_new_tokens": 6} if mode == "generate" else {}
    policy = line_policy(cache_dir, **extra)
    policy.save(folder / f"{mode}_init")
    rollout = Rollout(policy, PromptBuilder.for_policy("test", policy), ENV_ID, num_envs=4, seed=3,
                      max_episode_steps=8)
    steps = [s for ep in rollout.collect(40) for s in ep.steps]
    rollout.close()
    adv = np.random.default_rng(0).normal(size=len(steps)).astype(np.float32)
    (folder / f"{mode}_batch.pkl").write_bytes(pickle.dumps((steps, adv)))
    learner = Learner(policy, LearnerConfig.build(LEARNER))
    torch.manual_seed(1)
    stats = learner.update(steps, adv)
    return stats, {k: v.detach().clone() for k, v in trainable_weights(policy.model).items()}


def test_two_rank_fsdp_update_matches_one_process_and_dcp_resumes(tmp_path, cache_dir):
    want = {mode: _batch(cache_dir, tmp_path, mode) for mode in ("choose", "generate")}
    (tmp_path / "learner.pkl").write_bytes(pickle.dumps(LEARNER))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "CREDO_CACHE": str(cache_dir)}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           "-m", "tests._fsdp_worker", str(tmp_path)], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = torch.load(tmp_path / "fsdp_results.pt")
    for mode, (single_stats, single) in want.items():
        got = results[mode]
        for key in ("grad_norm", "policy_loss", "entropy", "clip_frac", "learner_tokens"):
            assert abs(got["stats"][key] - single_stats[key]) <= 1e-4 * max(1.0, abs(single_stats[key])), key
        assert list(got["first"]) == list(single)
        diff, worst = max((float((got["first"][k] - single[k]).abs().max()), k) for k in single if k != NULL_GRAD)
        assert diff < 1e-5, f"{mode}: 2-rank update differs from one process by {diff} ({worst})"
        moved = max(float((got["second"][k] - got["first"][k]).abs().max()) for k in single)
        assert moved > 1e-5  # the second update really changed the weights
        assert all(torch.equal(got["resumed"][k], got["second"][k]) for k in single), f"{mode}: DCP resume"
