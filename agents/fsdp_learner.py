"""The learner on FSDP2 across processes (`torchrun`; gloo on CPU, NCCL on GPU): the same PPO update as one process.

Every rank holds the whole batch (rank 0 collected it; `broadcast_batch` hands it over) and walks the same
minibatches in the same order (the same seed on every rank). Each minibatch is split into token-balanced shards,
one per rank (longest-first onto the lightest rank), so a rank with long NetHack prompts does not hold the others
back; each rank cuts its shard into the same number of micro-batches, running a zero-weighted one where its shard
is short, because every forward and backward is a collective under FSDP. The loss of a micro-batch is already
divided by the whole minibatch's unit count, so gradients are summed over ranks (FSDP's divide factor 1): the
update is the single-process update up to float summation order (tests: max parameter difference < 1e-5, fp32).

Checkpoints are torch distributed checkpoints (`save_distributed` / `load_distributed`: each rank writes its
shards; a resume may use another number of ranks). Rank 0 gathers the full trainable weights for publishing
(`full_weights`; LoRA: the adapters only).

Not sharded yet (a one-line error says so): the value head (advantage=gae) and the KL reference (learner.kl_coef).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from agents.learner import Learner, LearnerConfig
from agents.policy import Policy
from credo.config import ConfigError
from credo.trajectory import Step


def init_distributed() -> tuple[int, int]:
    """Join the torchrun group (NCCL with GPUs, gloo without); returns (rank, world size)."""
    if not dist.is_initialized():
        if "RANK" not in os.environ:
            raise ConfigError("the distributed learner runs under torchrun (RANK, WORLD_SIZE... are not set)")
        cuda = torch.cuda.is_available()
        if cuda:
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
        dist.init_process_group(backend="nccl" if cuda else "gloo")
    return dist.get_rank(), dist.get_world_size()


def token_shards(tokens: Sequence[int], world: int) -> list[list[int]]:
    """Positions 0..n-1 split into `world` shards of near-equal token sums (longest first onto the lightest
    shard); each shard keeps its positions in order."""
    load = [0] * world
    shards: list[list[int]] = [[] for _ in range(world)]
    for j in sorted(range(len(tokens)), key=lambda j: (-tokens[j], j)):
        r = min(range(world), key=lambda r: (load[r], r))
        shards[r].append(j)
        load[r] += tokens[j]
    return [sorted(s) for s in shards]


def shard_model(model: Any) -> Any:
    """`fully_shard` each decoder layer, then the whole model (FSDP2), with gradients summed over ranks."""
    from torch.distributed.fsdp import FSDPModule, fully_shard

    for module in list(model.modules()):
        if type(module).__name__.endswith("DecoderLayer"):
            fully_shard(module)
    fully_shard(model)
    for module in model.modules():
        if isinstance(module, FSDPModule):
            module.set_gradient_divide_factor(1.0)
            module.set_force_sum_reduction_for_comms(True)  # plain SUM: gloo has no pre-multiplied sum
    return model


def broadcast_batch(steps: Sequence[Step] | None, advantages: np.ndarray | None) -> tuple[list[Step], np.ndarray]:
    """Rank 0's batch on every rank (token ids and scalars: small next to the model)."""
    box: list[Any] = [(list(steps), np.asarray(advantages)) if dist.get_rank() == 0 else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


class FSDPLearner(Learner):
    """`Learner` whose model is sharded over the torchrun ranks (module docstring)."""

    def __init__(self, policy: Policy, config: LearnerConfig | None = None, value_head: bool = False) -> None:
        config = config or LearnerConfig()
        if value_head:
            raise ConfigError("the distributed learner does not shard a value head yet: use advantage=returns, "
                              "grpo, rloo or reinforce++")
        if config.kl_coef > 0:
            raise ConfigError("the distributed learner does not shard the KL reference yet: set learner.kl_coef=0")
        self.rank, self.world = init_distributed()
        shard_model(policy.model)
        super().__init__(policy, config, value_head=False)
        self.driving = False
        """Rank 0 of a trainer run: each collective call first tells the followers (`follow`) which one."""

    # -- rank 0 drives, the other ranks follow ---------------------------------------------------------------
    def _tell(self, name: str, *payload: Any) -> None:
        if self.driving:
            dist.broadcast_object_list([(name, payload)], src=0)

    def follow(self) -> None:
        """Ranks >= 1: run the collectives rank 0 announces until it says stop."""
        while True:
            box: list[Any] = [None]
            dist.broadcast_object_list(box, src=0)
            name, payload = box[0]
            if name == "stop":
                return
            {"update": super().update, "weights": self.weights, "save": self.save,
             "load": self.load}[name](*payload)

    def stop(self) -> None:
        """Rank 0: release the followers (end of the run)."""
        self._tell("stop")

    def update(self, steps: Sequence[Step], advantages: np.ndarray,
               value_targets: np.ndarray | None = None) -> dict[str, float]:
        self._tell("update", list(steps), np.asarray(advantages), value_targets)
        return super().update(steps, advantages, value_targets)

    def weights(self) -> dict[str, torch.Tensor]:
        """The full trainable weights on rank 0 (every rank takes part; the others get {})."""
        self._tell("weights")
        return self.full_weights() or {}

    def save(self, folder: Path) -> dict[str, Any]:
        """Shards of model and optimizer as a DCP checkpoint in `folder/dcp` (every rank), and the full policy in
        `folder/policy` (rank 0, for evaluation and loading anywhere); `folder` must be on a shared filesystem."""
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

        self._tell("save", folder)
        self.save_distributed(folder / "dcp")
        full = get_model_state_dict(self.policy.model, options=StateDictOptions(full_state_dict=True,
                                                                                cpu_offload=True))
        if self.rank == 0:
            self.policy.save(folder / "policy", state_dict=full)
        return {}

    def load(self, folder: Path, state: dict[str, Any]) -> None:
        self._tell("load", folder, state)
        self.load_distributed(folder / "dcp")

    def _micro_batches(self, steps: Sequence[Step], mb: list[int]) -> list[tuple[list[int], bool]]:
        shards = token_shards([len(steps[i].prompt_ids) + self._action_tokens(steps[i]) for i in mb], self.world)
        pieces = max(math.ceil(len(s) / self.config.micro_batch_size) for s in shards)  # the same on every rank
        mine = [mb[j] for j in shards[self.rank]]
        out = []
        for part in np.array_split(np.asarray(mine, dtype=np.int64), pieces):
            out.append((part.tolist(), True) if len(part) else ([mb[0]], False))
        return out

    def _sum_over_ranks(self, totals: dict[str, float]) -> dict[str, float]:
        every: list[dict[str, float]] = [{} for _ in range(self.world)]
        dist.all_gather_object(every, totals)
        out: dict[str, float] = {}
        for part in every:
            for k, v in part.items():
                out[k] = out.get(k, 0.0) + v
        return out

    def full_weights(self) -> dict[str, torch.Tensor] | None:
        """The trainable weights, gathered whole on rank 0's CPU (None on the other ranks); every rank calls it."""
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

        model = self.policy.model
        names = {n for n, p in model.named_parameters() if p.requires_grad}
        state = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
        return {k: v for k, v in state.items() if k in names} if self.rank == 0 else None

    def save_distributed(self, folder: str | Path) -> None:
        """Model and optimizer shards as a torch distributed checkpoint (every rank calls it)."""
        import torch.distributed.checkpoint as dcp
        from torch.distributed.checkpoint.state_dict import get_state_dict

        model_state, optim_state = get_state_dict(self.policy.model, self.optimizer)
        dcp.save({"model": model_state, "optim": optim_state}, checkpoint_id=str(folder))

    def load_distributed(self, folder: str | Path) -> None:
        import torch.distributed.checkpoint as dcp
        from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict

        model_state, optim_state = get_state_dict(self.policy.model, self.optimizer)
        state = {"model": model_state, "optim": optim_state}
        dcp.load(state, checkpoint_id=str(folder))
        set_state_dict(self.policy.model, self.optimizer, model_state_dict=state["model"],
                       optim_state_dict=state["optim"])
