"""Joining a Ray cluster: the one place credo calls `ray.init` (env actors, scoring actors, benchmarks).

`address="local"` starts a private Ray on this machine (with `num_cpus` CPUs) the first time it is needed;
`"auto"` joins the cluster a `ray start --head` on this node belongs to; `"ray://host:10001"` joins a remote one
through Ray Client. Ray is an optional extra (`pip install 'credo[ray]'`): importing this module never imports it.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from credo.config import Config, ConfigError


class RayConfig(Config):
    """Where Ray actors run and what each asks of the cluster."""

    address: str = Field("local", description="'local': start a private Ray on this machine; 'auto': join the "
                         "cluster this node belongs to (`ray start`); or 'ray://HOST:PORT' (Ray Client).")
    num_cpus: int | None = Field(None, ge=1, description="address=local: CPUs the private Ray may use (None: all).")
    env_actor_cpus: float = Field(1.0, gt=0, description="CPUs each env actor reserves (NetHack and MiniHack step "
                                  "on one core; fractions pack several actors on a core).")
    env_actor_resources: dict[str, float] = Field(default_factory=dict, description="Extra custom resources each "
                                                  "env actor asks for, e.g. {cpu_node: 1} to keep them on CPU nodes.")
    scorer_cpus: float = Field(1.0, gt=0, description="CPUs each scoring actor reserves.")
    scorer_gpus: float = Field(0.0, ge=0, description="GPUs each scoring actor reserves (0 on CPU clusters).")


def ray_module() -> Any:
    """`import ray`, or a one-line error saying how to install it."""
    try:
        import ray
    except ImportError:
        raise ConfigError("Ray is not installed: pip install 'credo[ray]'") from None
    return ray


def connect(config: RayConfig | None = None) -> Any:
    """Join (or start) the cluster `config` names once per process; returns the `ray` module."""
    ray = ray_module()
    if ray.is_initialized():
        return ray
    config = config or RayConfig()
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": True}
    if config.address == "local":
        kwargs["num_cpus"] = config.num_cpus
    else:
        kwargs["address"] = config.address
    try:
        ray.init(**kwargs)
    except (ConnectionError, RuntimeError, ValueError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ConfigError(f"ray.address={config.address!r}: cannot join the cluster: {first}") from None
    return ray
