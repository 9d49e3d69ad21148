"""Data-parallel scoring actors: choose-mode acting on Ray actors that run credo's own `Policy` code.

Choose mode stays on credo's packed candidate scorer: vLLM would re-run the whole prefill once per candidate
when asked for prompt log-probs (research/scale.md). Each `ScoringActor` holds a replica of the policy and acts
for a slice of the batch with exactly `Policy.act` (so nothing the learner trains on is computed by other
code); the learner's rank 0 publishes new weights to every replica by broadcast over a weights group
(agents/publish.py), never through the object store.

`ScoringActorPool` is an action backend: `act(prompts, candidates, greedy)` -> `ActionSample`s, like `Policy.act`,
and `version` is the weights version the replicas acted with (stamped on every step as `policy_version`).
"""

from __future__ import annotations

import socket
from typing import Any

import torch

from agents.policy import ActionSample, Policy, PolicyConfig
from agents.publish import BroadcastPublisher, WeightReceiver, check_newer, trainable_weights, weights_group
from credo.ray_cluster import RayConfig, connect


class ScoringActor:
    """One policy replica in a Ray worker (wrapped by `ray.remote` in `ScoringActorPool`)."""

    def __init__(self, config: dict[str, Any], base: str, seed: int, threads: int) -> None:
        torch.set_num_threads(threads)
        torch.manual_seed(seed)
        cfg = PolicyConfig.build(config)
        self.policy = Policy.from_config(cfg.model_copy(update={"model": base}))  # same base, then the weights
        self.policy.model.eval()
        self.receiver: WeightReceiver | None = None

    def join(self, address: str, rank: int, world_size: int, backend: str) -> int:
        self.receiver = WeightReceiver(weights_group(address, rank, world_size, backend), self.policy.model)
        return rank

    def receive(self) -> int:
        return self.receiver.receive()

    def act(self, prompts: list[list[int]], candidates: list[list[str]] | None,
            greedy: bool) -> tuple[int, list[ActionSample]]:
        return self.receiver.version, self.policy.act(prompts, candidates, greedy=greedy)

    def weights(self) -> dict[str, torch.Tensor]:
        """The replica's trainable weights on CPU (tests compare them with the learner's)."""
        return {k: v.detach().cpu().clone() for k, v in trainable_weights(self.policy.model).items()}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("", 0))
        return s.getsockname()[1]


class ScoringActorPool:
    """`n` scoring actors acting data-parallel for the rollout, updated by broadcast (module docstring)."""

    needs_weights = True

    def __init__(self, policy: Policy, n: int, ray_config: RayConfig | None = None, seed: int = 0,
                 backend: str = "gloo", threads: int = 1) -> None:
        if n < 1:
            raise ValueError(f"scoring actors: need at least one, got {n}")
        self.ray = ray = connect(ray_config)
        cfg = ray_config or RayConfig()
        self.policy = policy
        remote = ray.remote(num_cpus=cfg.scorer_cpus, num_gpus=cfg.scorer_gpus or None)(ScoringActor)
        config = policy.config.model_dump(mode="json")
        if not cfg.scorer_gpus:
            config["device"] = "cpu"
        self.actors = [remote.remote(config, policy.base, seed + 1 + k, threads) for k in range(n)]
        address = f"{ray.util.get_node_ip_address()}:{_free_port()}"
        joined = [a.join.remote(address, k + 1, n + 1, backend) for k, a in enumerate(self.actors)]
        self.publisher = BroadcastPublisher(weights_group(address, 0, n + 1, backend))
        ray.get(joined)
        self.version = -1
        """No weights yet: the owner's first `publish` (the trainer's version 0, or a resumed run's) sends the
        learner's, which only the learner can gather (under FSDP every rank takes part)."""

    def publish(self, weights: dict[str, torch.Tensor], version: int) -> None:
        """A `WeightPublisher`: every replica receives `weights` (the policy's trainable ones) as `version`."""
        check_newer(version, self.publisher.version, "publish")  # before the replicas start listening
        pending = [a.receive.remote() for a in self.actors]
        self.publisher.publish(weights, version)
        got = self.ray.get(pending)
        if got != [version] * len(self.actors):
            raise RuntimeError(f"scoring actors hold weights versions {got}, expected {version}")
        self.version = version

    def act(self, prompts: list[list[int]], candidates: list[list[str]] | None = None,
            greedy: bool = False) -> list[ActionSample]:
        """`Policy.act` over the replicas: contiguous slices of the batch, one per actor, in parallel."""
        if not prompts:
            return []
        if self.version < 0:
            raise RuntimeError("scoring actors: no weights published yet (publish version 0 first)")
        n = min(len(self.actors), len(prompts))
        bounds = [len(prompts) * k // n for k in range(n + 1)]
        refs = [a.act.remote(prompts[lo:hi], candidates[lo:hi] if candidates is not None else None, greedy)
                for a, lo, hi in zip(self.actors, bounds, bounds[1:], strict=False)]
        out: list[ActionSample] = []
        for version, samples in self.ray.get(refs):
            if version != self.version:
                raise RuntimeError(f"a scoring actor acted with weights version {version}, expected {self.version}")
            out += samples
        return out

    def close(self) -> None:
        for actor in self.actors:
            self.ray.kill(actor, no_restart=True)
        self.actors = []
