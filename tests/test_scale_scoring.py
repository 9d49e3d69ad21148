"""Scoring actors and weight publishing: after a publish the replicas hold bitwise the learner's weights at that
version, stale versions are refused on both ends, LoRA sends adapters only, and the replicas' candidate log-probs
equal the local policy's."""

from __future__ import annotations

import pytest
import torch

from agents.backbones import HEAD
from agents.publish import BroadcastPublisher, LocalPublisher, StaleWeights, trainable_weights
from agents.scoring_actors import ScoringActorPool
from credo.ray_cluster import RayConfig
from tests._agent_helpers import ACTIONS, line_policy

pytest.importorskip("ray")

RAY = RayConfig(scorer_cpus=0.5)


def _held(pool: ScoringActorPool) -> list[dict[str, torch.Tensor]]:
    return pool.ray.get([a.weights.remote() for a in pool.actors])


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return list(a) == list(b) and all(torch.equal(a[k].cpu(), b[k].detach().cpu()) for k in a)


def _prompts(policy) -> list[list[int]]:
    texts = ["goal 3 east", "goal 1 west", "goal here", "goal 2 east", "goal 4 west"]
    return [policy.tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]


def test_local_publisher_only_stamps_newer_versions():
    pub = LocalPublisher()
    pub.publish({}, 1)
    with pytest.raises(StaleWeights, match="version 1 is not newer than version 1"):
        pub.publish({}, 1)
    assert pub.version == 1


def test_publish_gives_replicas_bitwise_weights_and_refuses_stale_versions(ray_cluster, cache_dir):
    policy = line_policy(cache_dir)
    pool = ScoringActorPool(policy, 2, RAY)
    try:
        with pytest.raises(RuntimeError, match="no weights published yet"):
            pool.act(_prompts(policy), [list(ACTIONS)] * 5)
        pool.publish(trainable_weights(policy.model), 0)
        assert pool.version == 0 and all(_same(w, trainable_weights(policy.model)) for w in _held(pool))
        with torch.no_grad():  # the learner changes its weights
            for p in policy.model.parameters():
                p.add_(torch.randn_like(p) * 0.01)
        pool.publish(trainable_weights(policy.model), 1)
        assert pool.version == 1 and all(_same(w, trainable_weights(policy.model)) for w in _held(pool))
        with pytest.raises(StaleWeights):
            pool.publish(trainable_weights(policy.model), 1)  # the publisher refuses to send it
        # a second publisher on the same group (say, a learner restarted from an older checkpoint) sends v1:
        # the replicas read it, refuse it and keep their weights
        rogue = BroadcastPublisher(pool.publisher.group)
        pending = [a.receive.remote() for a in pool.actors]
        old = {k: torch.zeros_like(v) for k, v in trainable_weights(policy.model).items()}
        rogue.publish(old, 1)
        for ref in pending:
            with pytest.raises(StaleWeights):
                pool.ray.get(ref)
        assert all(_same(w, trainable_weights(policy.model)) for w in _held(pool))
        pool.publish(trainable_weights(policy.model), 2)  # the group is still in step
        assert pool.version == 2

        # candidate log-probs of the replicas (data-parallel slices) equal the local policy's
        prompts, cands = _prompts(policy), [list(ACTIONS)] * 5
        remote = pool.act(prompts, cands, greedy=True)
        local = policy.act(prompts, cands, greedy=True)
        assert [s.text for s in remote] == [s.text for s in local]
        for r, loc in zip(remote, local, strict=True):
            assert max(abs(a - b) for a, b in zip(r.candidate_logprobs, loc.candidate_logprobs, strict=True)) < 1e-6
            assert r.action_ids == loc.action_ids and abs(r.logprob - loc.logprob) < 1e-6
    finally:
        pool.close()


def test_lora_publishes_adapters_only(ray_cluster, cache_dir):
    policy = line_policy(cache_dir, lora=True, lora_r=2)
    full = sum(p.numel() * p.element_size() for p in policy.model.parameters())
    pool = ScoringActorPool(policy, 1, RAY)
    try:
        pool.publish(trainable_weights(policy.model), 0)
        sent = trainable_weights(policy.model)
        assert any("lora_" in k for k in sent)  # the adapters, and the choose head (trained in full under LoRA)
        assert all("lora_" in k or f"{HEAD}.modules_to_save" in k for k in sent), list(sent)
        assert pool.publisher.bytes_sent == sum(t.numel() * t.element_size() for t in sent.values()) < full / 4
        assert _same(_held(pool)[0], sent)
    finally:
        pool.close()
