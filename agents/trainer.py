"""`Trainer(config).train()`: the RL loop, top to bottom.

    for each iteration:
        episodes  = rollout.collect(steps_per_iter)          # batched acting, whole groups
        signals   = assign_credit(modules, episodes)         # per-step credit, stored on Step.step_rewards[m]
        adv       = advantages.compute(episodes, signals)    # each module's rule (agents/advantages.py)
        stats     = learner.update(steps, adv)               # PPO-clip on the action tokens
        log metrics, sampled episodes; write an atomic checkpoint

A checkpoint holds the policy weights, the optimizer (and value head), python/numpy/torch RNG states, the
iteration, the metrics position, the success window and every credit module's state: `credo train --resume
runs/NAME` after a `kill -9` continues from it, losing at most the iteration in flight. Env states cannot be
saved (NetHack), so episodes in flight at the checkpoint restart.
"""

from __future__ import annotations

import time
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np
import torch

from agents import advantages as adv_lib
from agents import scale
from agents.advantages import CreditSignal
from agents.config import TrainConfig
from agents.credit_step import assign_credit, build_modules
from agents.heldout import HeldOutEval, play_heldout
from agents.policy import Policy
from agents.prompts import PromptBuilder
from agents.rollout import Rollout
from agents.runs import RunDir
from credo.progress import TrainProgress, clock, counting
from credo.seeding import rng_state, seed_everything, set_rng_state
from credo.tables import Col, print_table
from credo.trajectory import Episode
from envs.vector import make_pool

TRAINER_STATE = "trainer.pt"
SUMMARY_FILE = "summary.json"
WINDOW_KEYS = ("success", "score", "return", "episode_length", "efficiency", "progression")


class StartOrderWindow:
    """Outcome statistics over the last N episodes *by start order*, counting only a finished prefix.

    Short episodes finish first (and succeed more often), so a "last N finished" window reads high early on;
    this one advances only past episodes all of whose predecessors have finished (research/calibration.md).
    For the same reason it reports nothing until it holds `min_fill` episodes: a first curve point resting on
    the one or two episodes that finished first would read high.
    """

    def __init__(self, size: int, min_fill: int = 1) -> None:
        self.size = size
        self.min_fill = max(1, min(min_fill, size))
        self.next_index = 0
        self.window: deque[dict[str, float]] = deque(maxlen=size)
        self._waiting: dict[int, dict[str, float]] = {}

    def add(self, episode: Episode) -> None:
        row = {"success": float(episode.success), "score": episode.score, "return": episode.total_reward,
               "episode_length": float(episode.length)}
        for key in ("efficiency", "progression"):
            if key in episode.metrics:
                row[key] = episode.metrics[key]
        self._waiting[int(episode.metrics["start_index"])] = row
        while self.next_index in self._waiting:
            self.window.append(self._waiting.pop(self.next_index))
            self.next_index += 1

    def stats(self, partial: bool = False) -> dict[str, float]:
        """Window means; {} while the window holds fewer than `min_fill` episodes, unless `partial`."""
        out: dict[str, float] = {}
        if len(self.window) < self.min_fill and not partial:
            return out
        for key in WINDOW_KEYS:
            vals = [r[key] for r in self.window if key in r]
            if vals:
                out[key] = float(np.mean(vals))
        return out

    def state_dict(self) -> dict[str, Any]:
        return {"next_index": self.next_index, "window": list(self.window)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.next_index = int(state["next_index"])
        self.window = deque(state["window"], maxlen=self.size)
        self._waiting = {}


class Trainer:
    """Builds the run's parts from a `TrainConfig` (or resumes them from a run folder) and trains."""

    def __init__(self, config: TrainConfig, run: RunDir | None = None) -> None:
        """A new run (folder created here; removed again if anything below fails, so a config error or a missing
        model or LLM leaves no empty run folder) or, with `run`, a resumed one."""
        try:
            self._build(config, run)
        except BaseException:
            if run is None and getattr(self, "run", None) is not None:
                self.run.discard()
            raise

    def _build(self, config: TrainConfig, run: RunDir | None) -> None:
        import envs

        self.config = c = config
        if c.torch_threads:
            torch.set_num_threads(c.torch_threads)
        seed_everything(c.seed)
        family = envs.card(c.env).family
        self.run = run or RunDir.create(c.name, c, Path(c.runs_root))
        self.heldout = HeldOutEval(self.run, c.eval_episodes, c.eval_every_env_steps, c.eval_greedy)
        checkpoint = self.run.latest_checkpoint() if run is not None else None
        if run is not None and checkpoint is None:  # killed before its first checkpoint: start over, cleanly
            self.run.truncate_metrics(0)
            self.heldout.truncate(0)
        self.policy = (Policy.load(checkpoint / "policy") if checkpoint else
                       Policy.from_config(c.policy, [c.env], c.env_kwargs))
        self.policy.model.eval()
        self.builder = PromptBuilder.for_policy(family, self.policy, c.prompt)
        self.learner = scale.build_learner(c, self.policy)
        self.modules = build_modules(c, self.policy, self.run.path, lambda: envs.make(c.env, **c.env_kwargs))
        self.window = StartOrderWindow(c.success_window, min_fill=c.num_envs)
        self.iteration = 0
        self.env_steps = 0
        self.wall_time = 0.0
        self._groups_started = 0
        self._restarts_before = 0  # env worker restarts of the run before this process (resumes)
        rng = self._load(checkpoint) if checkpoint is not None else None
        self.backend, self.publisher = scale.build_acting(c, self.policy)
        if self.iteration > self.publisher.version:  # the acting replicas get the learner's (checkpoint's) weights
            self._publish(self.iteration)
        pool = make_pool(c.env, c.num_envs, workers=c.workers, env_kwargs=c.env_kwargs, kind=c.pool, ray_config=c.ray)
        self.rollout = Rollout(self.policy, self.builder, c.env, num_envs=c.num_envs, group_size=c.group_size,
                               seed=c.seed, max_episode_steps=c.max_episode_steps, pool=pool,
                               overlap=c.overlap_envs, backend=self.backend)
        self.rollout.policy_version = self.iteration
        # a resumed run continues the episode numbering and group seeds where the checkpoint left them
        self.rollout._groups_started = self._groups_started
        self.rollout._episodes_started = self.window.next_index
        if rng is not None:
            set_rng_state(rng)  # last, so nothing built above consumes the restored random stream

    # -- checkpoints ----------------------------------------------------------------------------------------
    def _write_checkpoint(self, folder: Path) -> None:
        learner_state = self.learner.save(folder)
        torch.save({
            "iteration": self.iteration, "env_steps": self.env_steps, "wall_time": self.wall_time,
            "groups_started": self.rollout._groups_started, "window": self.window.state_dict(),
            "learner": learner_state, "rng": rng_state(),
            "credit": {name: module.state_dict() for name, _, module in self.modules},
            "env_worker_restarts": self.worker_restarts,
        }, folder / TRAINER_STATE)

    def _load(self, folder: Path) -> dict[str, Any]:
        """Restore the checkpoint's trainer state; returns its RNG state (applied once everything is built)."""
        state = torch.load(folder / TRAINER_STATE, weights_only=False)
        self.iteration, self.env_steps = int(state["iteration"]), int(state["env_steps"])
        self.wall_time, self._groups_started = float(state["wall_time"]), int(state["groups_started"])
        self._restarts_before = int(state.get("env_worker_restarts", 0))
        self.window.load_state_dict(state["window"])
        self.learner.load(folder, state["learner"])
        for name, _, module in self.modules:
            if name in state["credit"]:
                module.load_state_dict(state["credit"][name])
        self.run.truncate_metrics(self.iteration)
        self.heldout.truncate(self.iteration)
        return state["rng"]

    @property
    def worker_restarts(self) -> int:
        """Env worker restarts over the whole run (resumes included): the metric `env_worker_restarts`."""
        return self._restarts_before + self.rollout.pool.restarts

    # -- one iteration's pieces --------------------------------------------------------------------------------
    def advantages(self, episodes: list[Episode], signals: list[CreditSignal]) -> adv_lib.Advantages:
        """Per-step advantages of the batch (agents/advantages.py); for gae the value head scores the steps first."""
        c = self.config
        if c.advantage == "gae":
            steps = [s for ep in episodes for s in ep.steps]
            for s, v in zip(steps, self.learner.values(steps), strict=True):
                s.value = float(v)
        return adv_lib.compute(episodes, signals, c.advantage, gamma=c.gamma, lam=c.gae_lambda,
                               grpo_std_norm=c.grpo_std_norm)

    def iterate(self) -> dict[str, float]:
        """One rollout -> credit -> advantages -> update; returns the iteration's metrics."""
        t0 = time.perf_counter()
        act0, env0, steps0 = self.rollout.act_seconds, self.rollout.env_seconds, self.rollout.env_steps
        episodes = self.rollout.collect(self.config.steps_per_iter, self.config.max_staleness)
        t_roll = time.perf_counter()
        signals, credit_metrics = assign_credit(self.modules, episodes)
        t_credit = time.perf_counter()
        adv = self.advantages(episodes, signals)
        advantages = adv.flat
        targets = np.concatenate(adv.value_targets) if adv.value_targets is not None else None
        steps = [s for ep in episodes for s in ep.steps]
        for step, a in zip(steps, advantages, strict=True):
            step.advantage = float(a)
        fresh, stale_metrics = self._fresh(steps)
        if self.config.scale.async_acting:
            self.rollout.start_background()  # the acting replicas keep the envs busy during the update
        stats = self.learner.update([steps[i] for i in fresh], advantages[fresh],
                                    targets[fresh] if targets is not None else None)
        self.rollout.stop_background()
        t_pub = time.perf_counter()
        self._publish(self.iteration + 1)
        self.rollout.policy_version = self.iteration + 1
        t_end = time.perf_counter()
        new_steps = self.rollout.env_steps - steps0
        self.env_steps += new_steps
        self.wall_time += t_end - t0
        self.iteration += 1
        for ep in episodes:
            self.window.add(ep)
        metrics: dict[str, float] = {"env_steps": float(self.env_steps), "episodes": float(self.window.next_index),
                                     "wall_time": self.wall_time, **self.window.stats()}
        metrics.update({
            "batch_success": float(np.mean([ep.success for ep in episodes])),
            "batch_episode_length": float(np.mean([ep.length for ep in episodes])),
            "batch_steps": float(len(steps)),
            "prompts_truncated": float(self.builder.truncated),  # so far, over prompt.max_tokens
            "kl": stats.pop("approx_kl"), "tokens_per_s": stats.pop("learner_tokens_per_s"),
            "env_steps_per_s": new_steps / max(t_end - t0, 1e-9),
            "act_seconds": self.rollout.act_seconds - act0, "env_seconds": self.rollout.env_seconds - env0,
            "rollout_seconds": t_roll - t0, "credit_seconds": t_credit - t_roll,
            "credit_share": (t_credit - t_roll) / max(t_end - t0, 1e-9),
            "advantage_std": float(np.std(advantages)),
            "env_worker_restarts": float(self.worker_restarts),
            "publish_seconds": t_end - t_pub, "weights_version": float(self.iteration),
            **stale_metrics,
            **adv.metrics,
        })
        metrics.update(stats)
        metrics.update(credit_metrics)
        self.run.log_metrics(self.iteration, metrics)
        if self.config.log_episodes:
            self.run.write_episodes(self.iteration, episodes[:self.config.log_episodes])
        return metrics

    def _publish(self, version: int) -> None:
        """The learner's weights to the acting replicas as `version` (gathered only where they are sent)."""
        self.publisher.publish(self.learner.weights() if self.publisher.needs_weights else {}, version)

    def _fresh(self, steps: list[Any]) -> tuple[np.ndarray, dict[str, float]]:
        """Indices of the steps young enough to train on (`max_staleness`), and the staleness metrics. A step's
        staleness is the learner's version now (its updates so far) minus the version that acted."""
        staleness = np.array([self.iteration - s.policy_version for s in steps])
        limit = self.config.max_staleness
        keep = np.flatnonzero(staleness <= limit) if limit is not None else np.arange(len(steps))
        return keep, {"staleness_mean": float(staleness.mean()), "staleness_max": float(staleness.max()),
                      "stale_steps_dropped": float(len(steps) - len(keep))}

    def done(self) -> bool:
        return budget_reached(self.config, self.env_steps, self.wall_time) is not None

    # -- the loop -------------------------------------------------------------------------------------------
    def train(self) -> dict[str, Any]:
        """Train until a stop criterion; returns a summary (final window metrics, held-out evaluations)."""
        from rich.console import Console

        c = self.config
        console = Console()
        if c.progress:
            for note in c.credit_notes:
                Console(stderr=True).print(f"credit {note}", markup=False, highlight=False)
        # before training (point 0), or what a killed run still owed at its checkpoint
        self._evaluate(self.heldout.due(self.iteration, self.env_steps, self.done()), console)
        progress = TrainProgress(self.run.name, c.total_env_steps, self.env_steps, console=console,
                                 enabled=c.progress)
        try:
            with progress:
                while not self.done():
                    last = self.iterate()
                    due = self.heldout.due(self.iteration, self.env_steps, self.done())
                    if due or self.iteration % c.checkpoint_every == 0 or self.done():
                        self.run.save_checkpoint(self.iteration, self._write_checkpoint, keep=c.keep_checkpoints)
                    self._evaluate(due, console)
                    progress.update(self.env_steps, self.iteration, self._progress_fields(last))
        finally:
            self.rollout.close()
            if hasattr(self.backend, "close") and self.backend is not self.policy:
                self.backend.close()
            if hasattr(self.learner, "stop"):
                self.learner.stop()
            for _, _, module in self.modules:
                module.close()
        summary: dict[str, Any] = {"run": str(self.run.path), "iterations": self.iteration,
                                   "env_steps": self.env_steps, "wall_time": self.wall_time,
                                   "window_episodes": len(self.window.window), **self.window.stats(partial=True)}
        if self.heldout.enabled:
            summary["eval"] = self._eval_summary()
            self._plot()
        self.run.write_json(SUMMARY_FILE, summary)  # written once training ended normally: the run is finished
        self.run.close()
        if c.progress:
            print_summary(summary, console)
        return summary

    def _progress_fields(self, metrics: dict[str, float]) -> list[str]:
        """What the progress shows after an iteration, most important first (narrow terminals drop the last)."""
        if "success" in metrics:
            head = [f"success {metrics['success']:.2f}", f"len {metrics['episode_length']:.1f}",
                    f"return {metrics['return']:.2f}"]
        else:  # the window reports nothing before it holds min_fill episodes: no zeros that look like results
            head = [f"window filling {len(self.window.window)}/{self.window.min_fill} episodes"]
        return [*head, f"it {self.iteration}", f"{metrics['env_steps_per_s']:.0f} steps/s", f"KL {metrics['kl']:.4f}",
                f"{metrics['tokens_per_s']:.0f} tok/s"]

    def _evaluate(self, due: list[tuple[str, bool]], console: Any = None) -> None:
        """Play the owed held-out evaluations (agents/heldout.py) and append them to eval.jsonl."""
        from agents.evaluate import RandomPolicy

        c = self.config
        for who, greedy in due:
            label = f"eval {who}{' greedy' if greedy else ''} at {self.env_steps:,} env steps"
            policy: Any = RandomPolicy(c.seed) if who == "random" else self.policy
            # the model acts where training acts: scoring actors or an engine hold the published weights
            backend = self.backend if who != "random" and self.backend is not self.policy else None
            with counting(f"{label} ({c.eval_episodes} episodes)", c.eval_episodes, console=console,
                          enabled=c.progress) as tick:
                result = play_heldout(policy, self.builder, c.env, c.eval_episodes, seed=c.seed, greedy=greedy,
                                      num_envs=c.eval_num_envs, max_episode_steps=c.max_episode_steps,
                                      env_kwargs={**c.env_kwargs, **c.eval_env_kwargs}, on_episode=tick,
                                      backend=backend)
            self.heldout.record(self.iteration, self.env_steps, self.done(), who, greedy, result)

    def _eval_summary(self) -> dict[str, dict[str, float]]:
        """random / before / after / after_greedy rows of eval.jsonl, as the summary table shows them."""
        rows = self.heldout.rows()
        picks = {"random": lambda r: r["policy"] == "random",
                 "before": lambda r: r["policy"] == "model" and r["iteration"] == 0 and not r["greedy"],
                 "after": lambda r: r["policy"] == "model" and r["final"] and not r["greedy"],
                 "after_greedy": lambda r: r["policy"] == "model" and r["final"] and r["greedy"]}
        out = {}
        for label, pick in picks.items():
            found = [r for r in rows if pick(r)]
            if found:
                out[label] = {k: found[-1][k] for k in ("success", "episode_length", "efficiency", "score")
                              if found[-1].get(k) is not None}
        return out

    def _plot(self) -> None:
        from agents.plots import plot_runs

        if not any("success" in row for row in self.run.read_metrics()):
            return  # a run too short for its success window to fill: no curve to draw
        plot_runs([self.run], ["success", "episode_length", "efficiency"], self.run.path / "learning_curve.png")


def print_summary(summary: dict[str, Any], console: Any = None) -> None:
    """The table a run ends with: the training window's metrics, and the held-out random / before / after
    evaluations if run.

    The success row is always there: with no finished episode in the window (a short run on long episodes) it says
    so instead of disappearing.
    """
    evals = summary.get("eval", {})
    which = [k for k in ("random", "before", "after", "after_greedy") if k in evals]
    rows = []
    for key in ("success", "episode_length", "efficiency", "score", "return"):
        row = [key, f"{summary[key]:.3f}" if key in summary else "-"]
        row += [f"{evals[col][key]:.3f}" if key in evals[col] else "-" for col in which]
        if key == "success" and row[1] == "-":
            row[1] = "no episode finished"
        if key == "success" or any(v != "-" for v in row[1:]):
            rows.append(row)
    rows.append(["episodes in window", str(summary.get("window_episodes", 0)), *["" for _ in which]])
    rows.append(["env steps", f"{summary['env_steps']:,}", *["" for _ in which]])
    rows.append(["wall time", clock(summary["wall_time"]), *["" for _ in which]])
    cols = [Col("metric", key=True), Col("training", min_width=19),
            *(Col(f"eval {k.replace('_', ' ')}") for k in which)]
    print_table(f"credo train: {summary['run']}", cols, rows, console)


def budget_reached(config: TrainConfig, env_steps: int, wall_time: float) -> str | None:
    """Which stop criterion a run at (env_steps, wall_time) has reached, as a `KEY=VALUE` override that would
    extend it (doubled), or None while it may go on."""
    if config.total_env_steps is not None and env_steps >= config.total_env_steps:
        return f"total_env_steps={max(2 * config.total_env_steps, env_steps + config.steps_per_iter)}"
    if config.max_minutes is not None and wall_time >= 60 * config.max_minutes:
        return f"max_minutes={2 * config.max_minutes:g}"
    return None


def _check_budget_left(run: RunDir, config: TrainConfig) -> None:
    """A finished run resumed without a larger budget: one line saying so and how to extend it (read from the
    metrics row of the latest checkpoint, before anything heavy is built)."""
    checkpoint = run.latest_checkpoint()
    if checkpoint is None:
        return
    k = RunDir.checkpoint_iteration(checkpoint)
    row = next((r for r in run.read_metrics() if r.get("iteration") == k), None)
    if row is None or not isinstance(row.get("env_steps"), (int, float)):
        return
    extend = budget_reached(config, int(row["env_steps"]), float(row.get("wall_time") or 0.0))
    if extend is not None:
        done = f"{int(row['env_steps']):,} env steps, {clock(float(row.get('wall_time') or 0.0))} of training"
        key = extend.split("=")[0]
        raise ValueError(f"run {run.name} has reached its budget ({key}={getattr(config, key)}; {done}): nothing "
                         f"to resume. To train further: credo train --resume {run.path} {extend}")


def train_from_cli(config_path: str | None, overrides: list[str], resume: str | None) -> dict[str, Any]:
    """`credo train`: a new run from YAML + overrides, or `--resume runs/NAME` with the run's own config. Under
    torchrun (scale.learner=fsdp) rank 0 trains and the other ranks follow its learner."""
    run = RunDir.open(resume) if resume else None
    if run is not None:
        config = TrainConfig.build(run.config(), overrides, source=str(run.path / "config.yaml"))
        _check_budget_left(run, config)
    else:
        config = TrainConfig.from_yaml(config_path, overrides)
    if scale.is_follower():
        scale.follow(config, run.latest_checkpoint() if run else None)
        return {}
    return Trainer(config, run).train()
