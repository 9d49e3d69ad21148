"""`credo eval`: play N episodes with a policy (or the random baseline) and report them with confidence intervals.

Success gets a Wilson score interval (honest near 0 and 1, where the normal approximation breaks); score and
length get bootstrap intervals of the mean (scipy's BCa bootstrap): scores are bounded (WebShop's in [0, 1]) and
skewed, where a Student-t interval can leave the possible range ([-0.28, 1.08] for 20 episodes). Efficiency is
the mean path efficiency (optimal steps / steps taken) over the *successful* episodes only, where the env reports
it (`Episode.metrics["efficiency"]`): the table says over how many, since one lucky success reads 1.000.
Episodes are played by the training rollout (`agents.rollout.Rollout`, batched), whose `seed` fixes the tasks:
two evaluations with the same seed (a model and the random baseline, say) see the same tasks.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from agents.runs import RunDir
from credo.config import Config
from credo.trajectory import Episode


class EvalConfig(Config):
    """What `credo eval` evaluates and how."""

    target: str | None = Field(None, description="A run (name under runs/ or folder: its latest checkpoint), a "
                               "policy/model folder, a hub id (org/name), or 'tiny'. Not needed with policy=random.")
    policy: Literal["model", "random"] = Field("model", description="'model': the target's policy; 'random': "
                                                "uniform over the admissible actions (the baseline).")
    env: str | None = Field(None, description="Env id; default: the run's env.")
    env_kwargs: dict[str, Any] | None = Field(None, description="Env keyword arguments; default: the run's.")
    episodes: int = Field(100, ge=1, description="Number of episodes.")
    seed: int = Field(0, description="Rollout seed: the same seed plays the same tasks.")
    greedy: bool = Field(False, description="Take the most likely action instead of sampling.")
    temperature: float | None = Field(None, gt=0, description="Sampling temperature (choose: over candidate scores); "
                                      "default: the policy's own. A flat policy can be far better at a low one.")
    num_envs: int = Field(16, ge=1, description="Envs acted on together (one forward pass serves all).")
    max_episode_steps: int | None = Field(None, ge=1, description="Episode step cap; default: the run's, else "
                                          "100 (the env's own cap applies too).")
    name: str | None = Field(None, description="Where a bare model's results go: runs/<name>/eval-<time>.json "
                             "(default eval-<model>, e.g. eval-tiny, reused by later evaluations of it).")
    torch_threads: int | None = Field(None, ge=1, description="torch.set_num_threads (None: torch's default).")


@dataclass
class EvalResult:
    """The numbers `credo eval` prints and writes to `eval-*.json`."""

    env: str
    policy: str
    episodes: int
    greedy: bool
    seed: int
    success: float
    success_ci: tuple[float, float]
    score: float
    score_ci: tuple[float, float]
    mean_length: float
    length_ci: tuple[float, float]
    efficiency: float | None
    """Mean path efficiency over successes (None when the env does not report it)."""
    efficiency_episodes: int
    """How many successful episodes `efficiency` averages over."""
    wall_s: float
    per_episode: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a success rate (scipy's binomtest)."""
    from scipy.stats import binomtest

    if n <= 0:
        return (0.0, 1.0)
    ci = binomtest(int(successes), int(n)).proportion_ci(confidence_level=confidence, method="wilson")
    return (float(ci.low), float(ci.high))


def mean_interval(values: Sequence[float], confidence: float = 0.95, resamples: int = 2000) -> tuple[float, float]:
    """Bootstrap (BCa) interval for a mean, seeded: always inside the values' range, so a bounded score keeps a
    bounded interval; a single value or zero spread gives a zero-width interval."""
    import numpy as np
    from scipy.stats import bootstrap

    x = np.asarray(values, dtype=float)
    if x.size == 0:
        return (math.nan, math.nan)
    mean = float(x.mean())
    if x.size < 2 or float(x.std()) == 0.0:
        return (mean, mean)
    res = bootstrap((x,), np.mean, confidence_level=confidence, n_resamples=resamples, method="BCa",
                    rng=np.random.default_rng(0))
    lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
    if not (math.isfinite(lo) and math.isfinite(hi)):  # BCa can degenerate on near-constant data: percentile then
        lo, hi = (float(v) for v in np.percentile(res.bootstrap_distribution, [50 * (1 - confidence),
                                                                                50 * (1 + confidence)]))
    return (max(lo, float(x.min())), min(hi, float(x.max())))


def summarize(episodes: Sequence[Episode], *, env: str, policy: str, greedy: bool, seed: int,
              wall_s: float) -> EvalResult:
    """Turn finished episodes into an `EvalResult` (episodes in the order they were started)."""
    if not episodes:
        raise ValueError("evaluate: no episodes were played")
    n = len(episodes)
    wins = sum(bool(ep.success) for ep in episodes)
    scores = [float(ep.score) for ep in episodes]
    lengths = [float(ep.length) for ep in episodes]
    effs = [float(ep.metrics["efficiency"]) for ep in episodes if ep.success and "efficiency" in ep.metrics]
    return EvalResult(
        env=env, policy=policy, episodes=n, greedy=greedy, seed=seed,
        success=wins / n, success_ci=wilson_interval(wins, n),
        score=sum(scores) / n, score_ci=mean_interval(scores),
        mean_length=sum(lengths) / n, length_ci=mean_interval(lengths),
        efficiency=sum(effs) / len(effs) if effs else None, efficiency_episodes=len(effs),
        wall_s=wall_s,
        per_episode=[{"seed": ep.seed, "success": bool(ep.success), "score": float(ep.score), "length": ep.length,
                      "return": ep.total_reward, **({"efficiency": ep.metrics["efficiency"]}
                                                    if "efficiency" in ep.metrics else {})} for ep in episodes],
    )


def print_result(result: EvalResult, path: Path | None = None) -> None:
    """The summary table `credo eval` ends with."""
    from rich.console import Console

    from credo.tables import Col, print_table

    def ci(pair: tuple[float, float]) -> str:
        return f"[{pair[0]:.3f}, {pair[1]:.3f}]"

    n = result.efficiency_episodes
    rows = [["success", f"{result.success:.3f}", ci(result.success_ci) + " (Wilson)"],
            ["score", f"{result.score:.3f}", ci(result.score_ci) + " (bootstrap)"],
            ["mean length", f"{result.mean_length:.2f}", ci(result.length_ci) + " (bootstrap)"],
            ["efficiency", "-" if result.efficiency is None else f"{result.efficiency:.3f}",
             f"over {n} successful episode{'s' if n != 1 else ''}" if result.efficiency is not None else ""],
            ["wall time", f"{result.wall_s:.1f} s", ""]]
    console = Console()
    print_table(f"eval {result.policy} on {result.env} ({result.episodes} episodes"
                f"{', greedy' if result.greedy else ''})", [Col("metric", key=True), Col("value"),
                                                             Col("95% CI", min_width=28)], rows, console)
    if path is not None:
        console.print(f"wrote {path}", soft_wrap=True)


class RandomPolicy:
    """The random baseline: uniform over the admissible actions. It stands in for `Policy` in `Rollout`
    (same `config.mode`, same `act` signature), so the baseline plays exactly the tasks the model plays."""

    def __init__(self, seed: int = 0) -> None:
        from agents.policy import PolicyConfig

        self.config = PolicyConfig(mode="choose")
        self._rng = random.Random(seed)

    def act(self, prompts: list[list[int]], candidates: list[list[str]] | None = None,
            greedy: bool = False) -> list[Any]:
        from agents.policy import ActionSample

        if candidates is None or any(not c for c in candidates):
            raise ValueError("policy=random needs an env that lists admissible actions")
        out = []
        for cands in candidates:
            action = self._rng.choice(cands)
            out.append(ActionSample(action, [], -math.log(len(cands)), [], True, action))
        return out


class _NoPrompt:
    """The random policy reads no prompt."""

    def build(self, *args: Any, **kwargs: Any) -> list[int]:
        return []


def play(policy: Any, builder: Any, env_id: str, episodes: int, *, seed: int = 0, greedy: bool = False,
         num_envs: int = 16, max_episode_steps: int = 100, env_kwargs: dict[str, Any] | None = None,
         on_episode: Callable[[Episode], None] | None = None, backend: Any = None) -> list[Episode]:
    """The first `episodes` episodes by start order, played in batch by `agents.rollout.Rollout` (acting through
    `backend` when given: the scoring actors or engine that hold the policy's weights, as in training).

    Waiting for exactly the first N started (not the first N finished) keeps the sample unbiased: short
    episodes finish first and are more often successes.
    """
    from agents.rollout import Rollout

    rollout = Rollout(policy, builder, env_id, num_envs=min(num_envs, episodes), group_size=1, seed=seed,
                      max_episode_steps=max_episode_steps, env_kwargs=env_kwargs, greedy=greedy, backend=backend)
    done: dict[int, Episode] = {}
    try:
        while len(done) < episodes:
            for ep in rollout.step_all():
                k = int(ep.metrics["start_index"])
                if k < episodes:
                    done[k] = ep
                    if on_episode is not None:
                        on_episode(ep)
    finally:
        rollout.close()
    return [done[k] for k in range(episodes)]


def policy_folder(run: RunDir) -> Path:
    """The policy a run produced: its latest checkpoint's (RL) or its `policy/` folder (SFT)."""
    from agents.policy import POLICY_FILE

    ckpt = run.latest_checkpoint()
    options = ([ckpt / "policy", ckpt] if ckpt else []) + [run.path / "policy"]
    for folder in options:
        if (folder / POLICY_FILE).is_file():
            return folder
    raise FileNotFoundError(f"run {run.name}: no saved policy (looked in {', '.join(str(p) for p in options)})")


def _open_run(target: str, root: Path) -> RunDir | None:
    try:
        return RunDir.open(target, root=root)
    except FileNotFoundError:
        return None


def _check_target(target: str | None, run: RunDir | None, root: Path) -> None:
    """A one-line error for a target that names no run, folder, 'tiny' or hub id (a typo'd run name must not
    turn into a question about --env, nor into a hub download attempt)."""
    if not target:
        raise ValueError("eval: give a run, a model path or 'tiny' (or policy=random)")
    if run is None and target != "tiny" and not Path(target).is_dir() and "/" not in target:
        raise FileNotFoundError(f"eval: {target!r} is not a run under {root}/, a folder, 'tiny' or a hub id "
                                "(org/name); see `credo runs list`")


def _results_folder(config: EvalConfig, label: str, root: Path) -> RunDir:
    """Where a bare model's (or the random baseline's) evaluations go: one folder per model, `eval-<model>`,
    reused by later evaluations (each writes its own eval-<time>.json), not a new folder per call."""
    return RunDir.open_or_create(config.name or f"eval-{label}", config, root=root)


def evaluate_from_config(config: EvalConfig, root: Path = Path("runs"),
                         show_progress: bool = True) -> tuple[EvalResult, Path]:
    """Load the policy `config` names, play, summarise, and write `eval-<time>.json`; returns (result, path)."""
    import envs
    from agents.policy import Policy, PolicyConfig
    from agents.prompts import PromptBuilder, PromptConfig

    if config.torch_threads:
        import torch

        torch.set_num_threads(config.torch_threads)
    run = _open_run(config.target, root) if config.target and config.policy == "model" else None
    if config.policy == "model":
        _check_target(config.target, run, root)  # before anything else: a typo'd run name is the error to show
    run_cfg = run.config() if run else {}
    env_id = config.env or run_cfg.get("env")
    if not env_id:
        raise ValueError("eval: --env is required (no run config names one)")
    family = envs.card(env_id).family
    env_kwargs = config.env_kwargs if config.env_kwargs is not None else run_cfg.get("env_kwargs") or {}
    max_steps = int(config.max_episode_steps or run_cfg.get("max_episode_steps") or 100)
    if config.policy == "random":
        policy: Any = RandomPolicy(config.seed)
        builder: Any = _NoPrompt()
        label = "random"
    else:
        assert config.target is not None  # _check_target
        if run is not None:
            policy = Policy.load(policy_folder(run))
        elif config.target == "tiny":
            policy = Policy.from_config(PolicyConfig(), [env_id], env_kwargs)
        elif Path(config.target).is_dir():
            policy = Policy.load(config.target)
        else:  # a hub id (org/name), from the local Hugging Face cache
            policy = Policy.from_config(PolicyConfig(model=config.target))
        policy.model.eval()
        if config.temperature is not None:
            policy.config = policy.config.model_copy(update={"temperature": config.temperature})
        prompt = PromptConfig.build(run_cfg.get("prompt") or {}, source="run config prompt")
        builder = PromptBuilder.for_policy(family, policy, prompt)
        label = run.name if run else config.target

    from credo.progress import counting

    start = time.time()
    with counting(f"eval {label} ({config.episodes} episodes)", config.episodes, enabled=show_progress) as tick:
        episodes = play(policy, builder, env_id, config.episodes, seed=config.seed, greedy=config.greedy,
                        num_envs=config.num_envs, max_episode_steps=max_steps, env_kwargs=env_kwargs,
                        on_episode=tick)
    result = summarize(episodes, env=env_id, policy=label, greedy=config.greedy, seed=config.seed,
                       wall_s=time.time() - start)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    out_run = run or _results_folder(config, label, root)
    path = out_run.write_json(f"eval-{stamp}.json", {"config": config.model_dump(mode="json"),
                                                      **result.to_dict()})
    return result, path
