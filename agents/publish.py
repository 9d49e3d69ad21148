"""Weight publishing: how the learner's new weights reach the copies of the policy that act.

    publisher.publish(trainable_weights(model), version)      # after every update, version = updates so far

- `LocalPublisher`: the single-process default. The policy acts with the learner's own model, so nothing is
  copied; it only keeps the version stamp every step is recorded with.
- `BroadcastPublisher` / `WeightReceiver`: a dedicated `torch.distributed` group (gloo on CPU, NCCL on GPU) of
  the learner's rank 0 and the acting replicas (scoring actors). Tensors travel in buckets of `bucket_mb`
  (one collective per bucket, never one call per parameter: research/scale.md, "Slow weight sync") and never
  through the Ray object store. A header (version, tensor count, element count) goes first, so a receiver built
  on another model shape fails in one line instead of reading garbage.
- Version stamps: a publisher refuses to publish a version that is not newer than its last one, and a receiver
  refuses (drains, but does not apply) weights not newer than those it holds: `StaleWeights` either way.

Only trainable weights are sent: with LoRA the adapters alone (megabytes for a 7B base), the base never moves.
vLLM engines take weights through their own update API (agents/engine.py), behind the same `publish` call.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from typing import Any, Protocol

import torch

BUCKET_MB = 64.0
"""Default bucket size: big enough that per-collective latency vanishes, small enough to stay off the OOM edge."""


class StaleWeights(RuntimeError):
    """Weights of a version that is not newer than the one already held."""


class WeightPublisher(Protocol):
    """Sends the learner's weights to whoever acts (module docstring)."""

    version: int
    """The last version published (0: the initial weights)."""
    needs_weights: bool
    """False where publishing only stamps a version (the caller need not gather the weights)."""

    def publish(self, weights: dict[str, torch.Tensor], version: int) -> None: ...


def trainable_weights(model: Any) -> dict[str, torch.Tensor]:
    """The parameters the learner changes, by name (LoRA: the adapters only), in a fixed order."""
    return {name: p for name, p in model.named_parameters() if p.requires_grad}


def check_newer(version: int, held: int, who: str) -> None:
    if version <= held:
        raise StaleWeights(f"{who}: weights version {version} is not newer than version {held}")


class LocalPublisher:
    """The single-process default: the acting policy is the learner's, so publishing only stamps the version."""

    needs_weights = False

    def __init__(self) -> None:
        self.version = 0

    def publish(self, weights: dict[str, torch.Tensor], version: int) -> None:
        check_newer(version, self.version, "publish")
        self.version = version


def weights_group(address: str, rank: int, world_size: int, backend: str = "gloo",
                  timeout_s: float = 300.0) -> Any:
    """A process group of its own ("host:port", rank 0 = the publisher) outside any default group, so a torchrun
    learner's FSDP group and the acting replicas' weight group live side by side (blocks until all ranks join)."""
    import torch.distributed as dist

    host, port = address.rsplit(":", 1)
    timeout = datetime.timedelta(seconds=timeout_s)
    store = dist.TCPStore(host, int(port), world_size, is_master=rank == 0, timeout=timeout)
    if backend == "gloo":
        return dist.ProcessGroupGloo(store, rank, world_size, timeout)
    if backend == "nccl":
        return dist.ProcessGroupNCCL(store, rank, world_size)
    raise ValueError(f"weights group backend must be gloo or nccl, got {backend!r}")


def _buckets(weights: list[torch.Tensor], cap_bytes: int) -> Iterator[list[torch.Tensor]]:
    """Consecutive tensors of one dtype up to `cap_bytes` each (both sides cut the same buckets)."""
    bucket: list[torch.Tensor] = []
    size = 0
    for t in weights:
        nbytes = t.numel() * t.element_size()
        if bucket and (t.dtype != bucket[0].dtype or size + nbytes > cap_bytes):
            yield bucket
            bucket, size = [], 0
        bucket.append(t)
        size += nbytes
    if bucket:
        yield bucket


def _broadcast(group: Any, tensor: torch.Tensor) -> None:
    import torch.distributed as dist

    opts = dist.BroadcastOptions()
    opts.rootRank = 0
    group.broadcast([tensor], opts).wait()


def _wire_device(group: Any, like: torch.Tensor) -> torch.device:
    """gloo moves CPU tensors; NCCL moves GPU tensors where they are, and CPU ones (the FSDP learner's gathered
    weights are offloaded) through this process's current GPU."""
    if type(group).__name__ != "ProcessGroupNCCL":
        return torch.device("cpu")
    return like.device if like.is_cuda else torch.device("cuda", torch.cuda.current_device())


class BroadcastPublisher:
    """Rank 0 of a weights group: broadcasts bucketed weights with a version header (module docstring)."""

    needs_weights = True

    def __init__(self, group: Any, bucket_mb: float = BUCKET_MB) -> None:
        self.group, self.cap = group, int(bucket_mb * 2**20)
        self.version = -1
        """The last version published (-1: none yet; the initial weights go out as version 0)."""
        self.bytes_sent = 0

    @torch.no_grad()
    def publish(self, weights: dict[str, torch.Tensor], version: int) -> None:
        check_newer(version, self.version, "publish")
        tensors = list(weights.values())
        dev = _wire_device(self.group, tensors[0])
        _broadcast(self.group, torch.tensor([version, len(tensors), sum(t.numel() for t in tensors)],
                                            dtype=torch.int64, device=dev))
        for bucket in _buckets(tensors, self.cap):
            flat = torch.cat([t.detach().reshape(-1).to(dev) for t in bucket])
            _broadcast(self.group, flat)
            self.bytes_sent += flat.numel() * flat.element_size()
        self.version = version


class WeightReceiver:
    """Rank >= 1 of a weights group: receives each broadcast into `model`'s trainable weights in place."""

    def __init__(self, group: Any, model: Any, bucket_mb: float = BUCKET_MB) -> None:
        self.group, self.cap = group, int(bucket_mb * 2**20)
        self.weights = list(trainable_weights(model).values())
        self.version = -1

    @torch.no_grad()
    def receive(self) -> int:
        """Take part in one publish; returns the version now held. Raises `StaleWeights` (after reading the
        whole broadcast, so the group stays in step) when the version is not newer than the one held."""
        dev = _wire_device(self.group, self.weights[0])
        header = torch.zeros(3, dtype=torch.int64, device=dev)
        _broadcast(self.group, header)
        version, count, numel = (int(x) for x in header.tolist())
        want = (len(self.weights), sum(t.numel() for t in self.weights))
        if (count, numel) != want:  # the sender's buckets cannot be read: the group is unusable from here on
            raise RuntimeError(f"weights broadcast of {count} tensors / {numel} elements, but this model has "
                               f"{want[0]} / {want[1]}: publisher and receiver were built on different models")
        stale = version <= self.version
        for bucket in _buckets(self.weights, self.cap):
            flat = torch.empty(sum(t.numel() for t in bucket), dtype=bucket[0].dtype, device=dev)
            _broadcast(self.group, flat)
            if not stale:
                offset = 0
                for t in bucket:
                    t.copy_(flat[offset:offset + t.numel()].view_as(t))
                    offset += t.numel()
        check_newer(version, self.version, "receive")
        self.version = version
        return version
