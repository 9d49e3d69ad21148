"""`TrainConfig`: everything `credo train` reads, one documented field each (YAML + KEY=VALUE overrides).

Defaults follow research/calibration.md, the settings with which the tiny default model learns the MiniHack
Room tasks from scratch on 2 CPU cores: choose mode, 16 envs, >= 512 steps per update, PPO-clip 0.2 with 2
epochs, minibatch 256, lr 1e-3, entropy 0.01, and batch-normalised discounted returns (no critic).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, PrivateAttr, model_validator

from agents.advantages import GROUP_ESTIMATORS, EstimatorName
from agents.learner import LearnerConfig
from agents.policy import PolicyConfig
from agents.prompts import PromptConfig
from agents.scale import ScaleConfig, check
from credo.config import Config, ConfigError
from credo.ray_cluster import RayConfig


class TrainConfig(Config):
    """One RL training run: env, policy, credit modules, advantage estimator, PPO and stopping rules."""

    name: str | None = Field(None, description="Run name: runs/<name>/ (default <env>-<credit>-<timestamp>).")
    runs_root: str = Field("runs", description="Folder the run folder is created in.")
    seed: int = Field(0, description="Seed of python, numpy, torch and the env seeds: same seed, same metrics.")
    env: str = Field("credo/MiniHack-Room-5x5-v0", description="Env id (see `credo envs list`).")
    env_kwargs: dict[str, Any] = Field(default_factory=dict, description="Keyword arguments of the env.")
    policy: PolicyConfig = Field(default_factory=PolicyConfig, description="The acting model.")
    prompt: PromptConfig = Field(default_factory=PromptConfig, description="Prompt layout.")
    learner: LearnerConfig = Field(default_factory=LearnerConfig, description="PPO settings.")
    credit: str = Field("outcome", description="Credit modules and their weights w, e.g. 'outcome', 'spa' or "
                        "'gigpo:0.5,oni'; a bare name takes the module's default weight (oprl: 0.1).")
    credit_config: dict[str, dict[str, Any]] = Field(default_factory=dict, description="Per-module config by "
                                                     "module name, e.g. {spa: {lr: 1e-4}}.")
    judge_url: str | None = Field(None, description="Judge server base URL for modules that ask an LLM; several "
                                  "comma-separated credo judge replicas are routed by item key; None: the embedded "
                                  "default judge.")
    advantage: EstimatorName = Field("returns", description="Advantage estimator: grpo, rloo (both need "
                                     "group_size >= 2), reinforce++, returns (discounted, batch-normalised), "
                                     "gae (value head). How each credit module's signal enters it: credit/README.md.")
    gamma: float = Field(0.99, ge=0, le=1, description="Discount (returns, gae).")
    gae_lambda: float = Field(0.95, ge=0, le=1, description="GAE lambda.")
    grpo_std_norm: bool = Field(True, description="grpo: divide by the group std (False: mean-centring only).")
    num_envs: int = Field(16, ge=1, description="Envs stepped together; one forward pass serves all of them.")
    workers: int = Field(0, ge=0, description="Env worker processes of the vector pool (0: in-process).")
    pool: Literal["local", "ray"] = Field("local", description="Where the envs live: 'local' (this process, or "
                                          "`workers` subprocesses) or 'ray' (`workers` Ray actors, num_envs/workers "
                                          "envs each).")
    ray: RayConfig = Field(default_factory=RayConfig, description="The Ray cluster (pool=ray, scale.scorers).")
    scale: ScaleConfig = Field(default_factory=ScaleConfig, description="Acting and learning beyond one process.")
    max_staleness: int | None = Field(None, ge=0, description="Train only on steps sampled at most this many "
                                      "weight versions before the learner's (older ones are logged, left out and not "
                                      "counted in steps_per_iter); None: no bound (episodes carried over between "
                                      "iterations keep training).")
    overlap_envs: bool = Field(False, description="Act for half of the envs while the other half steps in its "
                               "workers (needs workers >= 2); hides env time behind model time.")
    group_size: int = Field(1, ge=1, description="Episodes per group sharing task and seed (GRPO/RLOO baselines, "
                            "OPRL pairs, GiGPO anchors).")
    max_episode_steps: int = Field(100, ge=1, description="Episode step cap (the episode is truncated there).")
    steps_per_iter: int = Field(512, ge=1, description="Min env steps (in whole groups of finished episodes) "
                                "per PPO update.")
    total_env_steps: int | None = Field(50_000, ge=1, description="Stop after this many env steps (None: no "
                                        "limit).")
    max_minutes: float | None = Field(None, gt=0, description="Stop after this much training time, resumes "
                                      "included (None: no limit).")
    success_window: int = Field(100, ge=1, description="Episodes (by start order) in the logged success/length "
                                "window; logged once it holds min(success_window, num_envs) episodes.")
    checkpoint_every: int = Field(1, ge=1, description="Write a checkpoint every N iterations (and at the end).")
    keep_checkpoints: int = Field(2, ge=1, description="Checkpoints kept on disk.")
    log_episodes: int = Field(4, ge=0, description="Episodes written to runs/<name>/episodes/ per iteration.")
    eval_episodes: int = Field(0, ge=0, description="Held-out evaluation episodes per point (0: none), on seeds no "
                               "training episode uses; points: env step 0, every eval_every_env_steps, the end "
                               "(runs/<name>/eval.jsonl; the summary compares before/after with a random policy).")
    eval_every_env_steps: int | None = Field(None, ge=1, description="Also evaluate each time training passes a "
                                             "multiple of this many env steps (None: before and after only).")
    eval_greedy: Literal["none", "final", "all"] = Field("final", description="Greedy evaluations next to the "
                                                        "sampled ones: none, at the end only, or at every point.")
    eval_num_envs: int = Field(32, ge=1, description="Envs acted on together during evaluation (evaluation does "
                               "not learn, so a wider batch only makes it faster).")
    eval_env_kwargs: dict[str, Any] = Field(default_factory=dict, description="Env keyword arguments overriding "
                                            "env_kwargs for evaluation (TextWorld: {first_game: N} plays games no "
                                            "training seed reaches).")
    torch_threads: int | None = Field(None, ge=1, description="torch.set_num_threads (None: torch's default). 1 is "
                                      "safest on a machine shared with other jobs; 2 trains the tiny model ~1.3x "
                                      "faster on a quiet 2-core one.")
    progress: bool = Field(True, description="Show the rich progress bar and summary table.")

    _credit_notes: list[str] = PrivateAttr(default_factory=list)

    @model_validator(mode="after")
    def _check(self) -> TrainConfig:
        if self.total_env_steps is None and self.max_minutes is None:
            raise ValueError("set total_env_steps or max_minutes (or both): a run needs a stop criterion")
        self._resolve_credit()
        try:
            check(self)
        except ConfigError as err:
            raise ValueError(str(err)) from None
        if self.scale.engine_url and "behaviour_logprobs" not in self.learner.model_fields_set:
            self.learner.__dict__["behaviour_logprobs"] = "recompute"  # an engine's log-probs are behaviour only
        if self.advantage in GROUP_ESTIMATORS and self.group_size < 2:
            raise ValueError(f"advantage={self.advantage} compares episodes within a group: set group_size >= 2")
        return self

    def _resolve_credit(self) -> None:
        """Check the credit spec and each module's config, and apply a module's `suggested` trainer settings
        when the user set none of them (noted in `credit_notes`), before anything is built or loaded."""
        import credit

        try:
            spec = credit.parse_spec(self.credit)
            for extra in set(self.credit_config) - {n for n, _ in spec}:
                raise ConfigError(f"credit_config.{extra}: module {extra!r} is not in credit={self.credit!r}")
            for name, weight in spec:
                cls = credit.get(name)
                cls.Config.build(self.credit_config.get(name, {}), source=f"credit_config.{name}")
                if f"{name}:" not in self.credit and weight != 1.0:
                    self._credit_notes.append(f"{name}: weight {weight:g} (its default; `--credit {name}:W` sets it)")
                if cls.suggested and not set(cls.suggested) & self.model_fields_set:
                    changed = {k: v for k, v in cls.suggested.items() if getattr(self, k) != v}
                    for key, value in changed.items():
                        self.__dict__[key] = value  # no re-validation: the model validator is running now
                    self.model_fields_set.update(cls.suggested)
                    if changed:
                        chosen = " ".join(f"{k}={str(v).lower() if isinstance(v, bool) else v}"
                                          for k, v in changed.items())
                        self._credit_notes.append(f"{name}: chose {chosen} (the paper's setting; set any of them "
                                                  "to choose yourself)")
                if cls.requires_groups and self.group_size < 2:
                    raise ConfigError(f"credit {name} compares the trajectories of a group: set group_size >= 2")
        except ConfigError as err:
            raise ValueError(str(err)) from None

    @property
    def credit_notes(self) -> list[str]:
        """What config validation chose for the credit modules (printed when a run starts)."""
        return list(self._credit_notes)
