"""The credit-module API: a batch of episodes in, one number per step out (DESIGN.md, "Credit modules").

Writing a module is one file and one registration line:

    @register_credit("my_module")
    class MyModule(CreditModule):
        Config = MyConfig          # a credo.config.Config subclass; every field documented
        signal = "intrinsic"       # how the numbers reach the learner (below)
        def assign(self, episodes):  # may train the module's own model on `episodes` first
            return CreditOutput([np.zeros(ep.length) for ep in episodes])

The trainer builds modules from a spec such as `"spa:1.0,oprl:0.1"`, records each module's numbers on
`Step.step_rewards[name]`, and hands them, weighted, to the advantage estimator (`agents/advantages.py`) by the
module's declared `signal` rule, the paper's way of using that kind of signal:

- `redistribution` (SPA, LaRe): a dense reward that *replaces* the env reward (`combine="replace"`); the estimator
  credits each action with the discounted return that follows it, so the outcome is counted once.
- `step_advantage` (OPRL, GiGPO): A = A^E + w * A^S, A^E the estimator's advantage of the env reward.
- `intrinsic` (ONI): added to the env reward, r = c * r_ext + r_int, then any estimator.
- `none` (outcome): no step signal.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from credo.config import Config, ConfigError
from credo.scoring import Scorer

if TYPE_CHECKING:
    from credo.trajectory import Episode


SignalRule = Literal["none", "redistribution", "step_advantage", "intrinsic"]
"""How a module's per-step numbers enter the advantage (see the module docstring)."""

Combine = Literal["replace", "add", "advantage"]
"""How a redistribution module's reward meets the env reward: `replace` it (the papers), `add` to it, or skip the
returns and use it as an immediate, group-normalised step advantage on top of the outcome's (credo before 0.2)."""


class RedistributionConfig(Config):
    """Settings every redistribution module (SPA, LaRe) shares."""

    combine: Combine = Field("replace", description="replace: the module's reward replaces the env reward and the "
                             "estimator works on its returns-to-go (paper); add: added to the env reward (the outcome "
                             "then counts twice); advantage: an immediate group-normalised step advantage added to "
                             "the outcome's (credo's former use, for ablations).")
    exact_sum: bool = Field(False, description="With combine=replace: add the residual (env return - sum of the "
                            "module's rewards) to the last step, so the learner's reward sums to what the episode "
                            "earned and an inaccurate model only moves credit in time (RUDDER's correction; not in "
                            "SPA or LaRe).")


@dataclass
class CreditOutput:
    """What a module returns for a batch of episodes."""

    step_rewards: list[np.ndarray]
    """One float array per episode, of that episode's length."""
    metrics: dict[str, float] = field(default_factory=dict)
    """Diagnostics to log (losses, label counts, update time...), without the module-name prefix."""
    kind: Literal["reward", "advantage"] = "reward"
    """"reward": step rewards the learner normalises within groups; "advantage": already step-level
    advantages (GiGPO), used as they are as the step term A^S (the learner still adds its own episode-level A^E)."""
    active: bool = True
    """False when the module has no signal for this batch (LaRe without accepted code): the learner then uses the
    env reward as if the module were absent, instead of replacing it by zeros."""


@dataclass
class CreditContext:
    """What the trainer gives a module at construction."""

    run_dir: Path | None = None
    """The run folder (modules save their models and dialogues under `run_dir / "credit" / name`)."""
    scorer: Scorer | None = None
    """Scores recorded steps like the acting policy (`credo.scoring.Scorer`: `copy_model`, `action_logprobs`,
    `action_hidden`); the local `agents.policy.Policy` is one. Modules never hold the policy itself."""
    env_id: str = ""
    seed: int = 0
    judge_url: str | None = None
    """Base URL of an OpenAI-compatible or credo judge server; None means the embedded default judge (the offline
    embedding judge, which labels text but cannot write code: modules that need a generating LLM, such as LaRe,
    treat None as "no LLM")."""
    env_factory: Any = None
    """A zero-argument callable returning a fresh env (LaRe gathers real states from it)."""


class CreditModule(ABC):
    """Base class of credit modules: see the module docstring for how to write one."""

    name: ClassVar[str] = ""
    Config: ClassVar[type[Config]] = Config
    signal: ClassVar[SignalRule] = "intrinsic"
    """How the module's output enters the advantage (checked against the trainer's settings at config time)."""
    default_weight: ClassVar[float] = 1.0
    """The weight a bare name in the credit spec gets (`--credit oprl` = `--credit oprl:<default_weight>`)."""
    requires_groups: ClassVar[bool] = False
    """True when the module compares a group's trajectories (needs group_size >= 2)."""
    suggested: ClassVar[dict[str, Any]] = {}
    """Trainer settings applied when the user set none of them (e.g. GiGPO: advantage=grpo, group_size=8)."""

    def __init__(self, config: Config | None = None, context: CreditContext | None = None) -> None:
        self.config = config if config is not None else self.Config()
        self.context = context or CreditContext()

    @abstractmethod
    def assign(self, episodes: list[Episode]) -> CreditOutput:
        """Return one reward per step for each episode (and update the module's own model if it has one)."""

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume the module after a crash (saved with the run's checkpoints)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:  # noqa: B027 (stateless modules keep nothing)
        """Restore what `state_dict` returned."""

    def close(self) -> None:  # noqa: B027 (most modules hold nothing to release)
        """Release threads, servers or files the module holds."""


_REGISTRY: dict[str, type[CreditModule]] = {}


def register_credit(name: str):
    """Class decorator: make a module available as `--credit name`."""

    def deco(cls: type[CreditModule]) -> type[CreditModule]:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"credit module {name!r} is already registered by {_REGISTRY[name].__qualname__}")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return deco


def available() -> list[str]:
    """Names of all registered credit modules."""
    return sorted(_REGISTRY)


def get(name: str) -> type[CreditModule]:
    """The module class registered under `name`; a one-line error listing the known names otherwise."""
    if name not in _REGISTRY:
        raise ConfigError(f"credit: unknown module {name!r}; known: {', '.join(available())}")
    return _REGISTRY[name]


def parse_spec(spec: str) -> list[tuple[str, float]]:
    """`"spa:1.0,oprl:0.5"` -> [("spa", 1.0), ("oprl", 0.5)]; a bare name has its module's `default_weight`."""
    out: list[tuple[str, float]] = []
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name, _, weight = part.partition(":")
        cls = get(name.strip())
        try:
            w = float(weight) if weight else cls.default_weight
        except ValueError:
            raise ConfigError(f"credit: weight of {name!r} must be a number, got {weight!r}") from None
        out.append((name.strip(), w))
    if not out:
        raise ConfigError("credit: empty spec; use e.g. 'outcome' or 'spa:1.0,oprl:0.1'")
    if len({n for n, _ in out}) < len(out):
        raise ConfigError(f"credit: a module appears twice in {spec!r}")
    return out
