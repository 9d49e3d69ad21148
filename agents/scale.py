"""What differs between the single-process default and the distributed modes, chosen from the config in one place.

`Trainer.iterate()` is one code path; these builders pick what sits behind its interfaces:

| interface         | default (one process)          | distributed                                              |
|-------------------|--------------------------------|----------------------------------------------------------|
| env pool          | in-process or subprocesses     | Ray env actors (`pool=ray`)                              |
| action backend    | the learner's `Policy`         | scoring actors (`scale.scorers=N`, choose mode) or an     |
|                   |                                | OpenAI-compatible engine (`scale.engine_url`, generate)  |
| weight publisher  | `LocalPublisher` (version only) | broadcast to the scoring actors / the engine's update API |
| learner           | `Learner`                      | `FSDPLearner` under torchrun (`scale.learner=fsdp`)      |
| scorer (credit)   | the `Policy`                   | the `Policy` on rank 0 (credit modules never see shards) |

Under torchrun, rank 0 runs the trainer and ranks >= 1 only follow the learner's collectives (`follow`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from agents.learner import Learner
from agents.policy import Policy
from agents.publish import LocalPublisher
from credo.config import Config, ConfigError


class ScaleConfig(Config):
    """Where acting and learning run beyond one process (README "Scale")."""

    learner: Literal["local", "fsdp"] = Field("local", description="'local': one process; 'fsdp': FSDP2 over the "
                                              "torchrun ranks (launch with torchrun; rank 0 drives the run).")
    scorers: int = Field(0, ge=0, description="Choose mode: data-parallel scoring actors on Ray that act for the "
                         "rollout, updated by broadcast after each update (0: the learner's policy acts).")
    weights_backend: Literal["gloo", "nccl"] = Field("gloo", description="Collective backend of the weights group "
                                                     "between the learner and the scoring actors.")
    engine_url: str | None = Field(None, description="Generate mode: an OpenAI-compatible engine that acts (vLLM, "
                                   "or credo's engine); the learner then recomputes old log-probs "
                                   "(learner.behaviour_logprobs=recompute).")
    engine_model: str = Field("", description="Model name the engine serves (vLLM: --served-model-name).")
    engine_sync: Literal["http", "vllm_nccl"] = Field("http", description="How weights reach the engine: 'http' "
                                                      "(credo's engine), 'vllm_nccl' (vLLM's native NCCL transfer).")
    nccl_address: str = Field("", description="engine_sync=vllm_nccl: host:port of the learner's NCCL rendezvous.")
    engine_gpus: int = Field(1, ge=1, description="engine_sync=vllm_nccl: GPUs of the engine (its NCCL ranks).")
    async_acting: bool = Field(False, description="Keep stepping the envs with the acting backend while the learner "
                               "updates (one step off-policy, AReaL-style; needs scorers or an engine).")


def check(config: Any) -> None:
    """Refuse combinations that cannot work, each in one line (called by TrainConfig validation)."""
    s: ScaleConfig = config.scale
    mode = config.policy.mode
    if s.scorers and mode != "choose":
        raise ConfigError("scale.scorers acts in choose mode; generate mode acts through scale.engine_url")
    if s.engine_url and mode != "generate":
        raise ConfigError("scale.engine_url acts in generate mode; choose mode acts through scale.scorers")
    if s.async_acting and not (s.scorers or s.engine_url):
        raise ConfigError("scale.async_acting needs scale.scorers or scale.engine_url: the learner's own policy "
                          "cannot act while it is being updated")
    if s.learner == "fsdp":
        if config.advantage == "gae":
            raise ConfigError("scale.learner=fsdp does not shard a value head yet: use advantage=returns, grpo, "
                              "rloo or reinforce++")
        if not (s.scorers or s.engine_url):
            raise ConfigError("scale.learner=fsdp acts through scale.scorers or scale.engine_url: the sharded "
                              "model runs only inside the learner's collectives")
        own_models = {n for n, _ in _credit_names(config.credit)} & {"spa", "oprl"}
        if own_models:
            raise ConfigError(f"scale.learner=fsdp: credit {sorted(own_models)} copies the policy's model, which "
                              "is sharded; not supported yet")


def _credit_names(spec: str) -> list[tuple[str, float]]:
    import credit

    return credit.parse_spec(spec)


def build_acting(config: Any, policy: Policy) -> tuple[Any, Any]:
    """(action backend, weight publisher) for the run."""
    s: ScaleConfig = config.scale
    if s.scorers:
        from agents.scoring_actors import ScoringActorPool

        pool = ScoringActorPool(policy, s.scorers, config.ray, seed=config.seed, backend=s.weights_backend,
                                threads=config.torch_threads or 1)
        return pool, pool
    if s.engine_url:
        from agents.engine_client import EngineBackend

        backend = EngineBackend(policy, s.engine_url, model=s.engine_model, sync=s.engine_sync,
                                nccl_address=s.nccl_address, engine_gpus=s.engine_gpus)
        return backend, backend
    return policy, LocalPublisher()


def build_learner(config: Any, policy: Policy) -> Learner:
    if config.scale.learner == "fsdp":
        import torch.distributed as dist

        from agents.fsdp_learner import FSDPLearner, init_distributed

        init_distributed()
        dist.barrier()  # the followers build the policy now, from the files this rank has made
        learner = FSDPLearner(policy, config.learner)
        learner.driving = True
        return learner
    return Learner(policy, config.learner, value_head=config.advantage == "gae")


def is_follower() -> bool:
    """A torchrun rank other than 0: it serves the learner's collectives and runs nothing else."""
    import os

    return int(os.environ.get("RANK", "0")) > 0


def follow(config: Any, checkpoint: Any = None) -> None:
    """Ranks >= 1 of a `scale.learner=fsdp` run: build the same policy, shard it, and follow rank 0's learner
    commands (update, gather weights, checkpoint) until it stops."""
    from agents.fsdp_learner import FSDPLearner, init_distributed

    init_distributed()
    import torch.distributed as dist

    dist.barrier()  # rank 0 has built (and cached) the policy first
    policy = Policy.load(checkpoint / "policy") if checkpoint else Policy.from_config(config.policy, [config.env],
                                                                                      config.env_kwargs)
    FSDPLearner(policy, config.learner).follow()
