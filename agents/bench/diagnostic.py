"""The credit-quality diagnostic (`credo bench credit --diagnostic`): does a module's signal point the right way,
before any RL noise?

For each task with an oracle (agents/bench/oracle.py) and each of its arms, on `batches` independent batches:
1. a fixed policy (the untrained tiny policy of the suite's seed 0, near-uniform over the actions, or a saved
   policy) plays `warmup_batches` + 1 batches of `groups` groups of `group_size` episodes, on seeds no training
   or evaluation run uses; every arm sees the same batches;
2. the arm's credit modules are built exactly as a training run builds them (`agents.credit_step.build_modules`)
   and run on the warm-up batches (fitting their models: SPA's estimator with its held-out folds, OPRL's PRM,
   LaRe's decoder, ONI's reward model) and then on the scored batch (`assign_credit`, what an iteration does);
3. their signals become per-step advantages with the arm's own estimator (`agents.advantages.compute`, what the
   learner receives; with `gae` the untrained value head's estimates are 0);
4. Spearman's rho between those advantages and the oracle advantage V(s_{t+1}) - V(s_t), over every step of the
   scored batch; also rho between the modules' raw per-step output (`Step.step_rewards`) and the oracle.
The report gives each rho's mean over batches with a 95% percentile bootstrap interval over batches. outcome-only is the reference: its
advantage is the same for every step of an episode, so its rho measures what the outcome alone says about a step.
"""

from __future__ import annotations

import copy
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from agents.bench.suite import SUITE_FILE, SuiteConfig, cells, resolved_yaml
from agents.config import TrainConfig
from agents.runs import write_atomic
from credo.trajectory import Episode

DIAGNOSTIC_JSON = "diagnostic.json"
SEED_BASE = 20_000_000
"""Batch b's episodes use rollout seeds 20M + 100 b + j: apart from training (s) and evaluation (10M + s)."""


def collect(policy: Any, builder: Any, config: TrainConfig, seed: int, groups: int) -> list[Episode]:
    """The first `groups` whole groups (by start order) the policy plays from rollout seed `seed`."""
    from agents.rollout import Rollout
    from credo.seeding import seed_everything

    seed_everything(seed)
    size = config.group_size
    rollout = Rollout(policy, builder, config.env, num_envs=min(config.num_envs, groups * size), group_size=size,
                      seed=seed, max_episode_steps=config.max_episode_steps, env_kwargs=config.env_kwargs)
    episodes: list[Episode] = []
    try:
        while len({ep.group_id for ep in episodes}) < groups or len(episodes) < groups * size:
            episodes += rollout.collect(1)
    finally:
        rollout.close()
    episodes.sort(key=lambda ep: ep.metrics["start_index"])
    keep = list(dict.fromkeys(ep.group_id for ep in episodes))[:groups]
    return [ep for ep in episodes if ep.group_id in keep]


def spearman(a: np.ndarray, b: np.ndarray) -> float | None:
    from scipy.stats import spearmanr

    if len(a) < 3 or np.all(a == a[0]) or np.all(b == b[0]):
        return None
    return float(spearmanr(a, b).statistic)


def score_arm(config: TrainConfig, policy: Any, warmups: list[list[Episode]], batch: list[Episode],
              oracle: np.ndarray) -> dict[str, float | None]:
    """One arm on one batch: rho(advantage, oracle), rho(module output, oracle), seconds."""
    import envs
    from agents import advantages as adv_lib
    from agents.credit_step import assign_credit, build_modules
    from credo.seeding import seed_everything

    seed_everything(config.seed)
    start = time.perf_counter()
    warmups, batch = copy.deepcopy(warmups), copy.deepcopy(batch)  # modules write on the steps
    with tempfile.TemporaryDirectory() as run_dir:
        modules = build_modules(config, policy, Path(run_dir), lambda: envs.make(config.env, **config.env_kwargs))
        try:
            for warm in warmups:
                assign_credit(modules, warm)
            signals, _ = assign_credit(modules, batch)
        finally:
            for _, _, module in modules:
                module.close()
    adv = adv_lib.compute(batch, signals, config.advantage, gamma=config.gamma, lam=config.gae_lambda,
                          grpo_std_norm=config.grpo_std_norm).flat
    names = [name for name, _, module in modules if module.signal != "none"]
    output = np.array([sum(s.step_rewards.get(n, 0.0) for n in names) for ep in batch for s in ep.steps])
    return {"rho_advantage": spearman(adv, oracle), "rho_signal": spearman(output, oracle) if names else None,
            "seconds": time.perf_counter() - start}


def _summary(values: list[float | None]) -> dict[str, Any]:
    from agents.bench.stats import mean_ci

    mean, ci = mean_ci([v for v in values if v is not None])
    return {"mean": mean, "ci": list(ci) if ci else None, "values": values}


def _arm_entry(cell: Any, policy: Any, batches: list, console: Any) -> dict[str, Any]:
    """One arm's rho summaries over the batches, or its one-line error (one arm's failure stops no other)."""
    if cell.config is None:
        console.print(f"  {cell.arm}: skipped ({cell.error})")
        return {"error": cell.error}
    try:
        scores = [score_arm(cell.config, policy, w, b, o) for w, b, o in batches]
    except Exception as err:  # a missing code file, a judge
        from agents.bench.runner import one_line

        console.print(f"  {cell.arm}: FAILED {one_line(err)}")
        return {"error": one_line(err)}
    entry: dict[str, Any] = {key: _summary([s[key] for s in scores]) for key in ("rho_advantage", "rho_signal")}
    entry["seconds"] = float(np.mean([s["seconds"] for s in scores]))
    rho = entry["rho_advantage"]
    shown = "-" if rho["mean"] is None else f"{rho['mean']:+.2f}"
    console.print(f"  {cell.arm}: rho(advantage, oracle) {shown} ({entry['seconds']:.0f} s per batch)")
    return entry


def run_diagnostic(suite: SuiteConfig, root: Path, *, seeds: int | None = None, tasks: list[str] | None = None,
                   arms: list[str] | None = None, console: Any = None) -> dict[str, Any]:
    """Run the diagnostic of every task that has one; merge it into runs/<suite>/diagnostic.json, written after
    each arm so that a stopped diagnostic keeps the arms it finished."""
    from rich.console import Console

    import envs
    from agents.bench.oracle import oracle_advantages
    from agents.policy import Policy
    from agents.prompts import PromptBuilder
    from credo.seeding import seed_everything

    console = console or Console()
    suite_dir = Path(root) / suite.name
    suite_dir.mkdir(parents=True, exist_ok=True)
    if not (suite_dir / SUITE_FILE).is_file():
        write_atomic(suite_dir / SUITE_FILE, resolved_yaml(suite, seeds))
    path = suite_dir / DIAGNOSTIC_JSON
    out = json.loads(path.read_text()) if path.is_file() else {"tasks": {}}
    out["definition"] = ("Spearman rho between each arm's per-step advantage (as training computes it) and the "
                         "oracle advantage V(s') - V(s) over every step of a batch; mean over batches, 95% percentile "
                         "bootstrap interval over batches")
    every = [c for c in cells(suite, root, 1, tasks, arms) if suite.tasks[c.task].diagnostic is not None]
    if not every:
        raise ValueError(f"suite {suite.name}: no task (of those asked for) has a diagnostic")
    for tname in dict.fromkeys(c.task for c in every):
        spec = suite.tasks[tname].diagnostic
        mine = [c for c in every if c.task == tname]
        base = next(c.config for c in mine if c.config is not None)
        seed_everything(0)
        policy = (Policy.from_config(base.policy, [base.env], base.env_kwargs) if spec.policy == "initial"
                  else Policy.load(spec.policy))
        policy.model.eval()
        builder = PromptBuilder.for_policy(envs.card(base.env).family, policy, base.prompt)
        env = envs.make(base.env, **base.env_kwargs)
        console.print(f"diagnostic {tname}: {spec.batches} batches of {spec.groups} x {base.group_size} episodes "
                      f"({spec.warmup_batches} warm-up each), oracle {spec.oracle}")
        batches = []
        for b in range(spec.batches):
            played = [collect(policy, builder, base, SEED_BASE + 100 * b + j, spec.groups)
                      for j in range(spec.warmup_batches + 1)]
            oracle = np.concatenate(oracle_advantages(env, played[-1], spec.oracle))
            batches.append((played[:-1], played[-1], oracle))
        env.close()
        task_out = out["tasks"].setdefault(tname, {"arms": {}})
        task_out.update({"env": base.env, "oracle": spec.oracle, "policy": spec.policy, "batches": spec.batches,
                         "episodes_per_batch": len(batches[0][1]),
                         "steps_per_batch": float(np.mean([len(o) for _, _, o in batches])),
                         "batch_success": float(np.mean([ep.success for _, b, _ in batches for ep in b]))})
        for cell in mine:
            task_out["arms"][cell.arm] = _arm_entry(cell, policy, batches, console)
            write_atomic(path, json.dumps(out, indent=1) + "\n")
    return out


def markdown(diag: dict[str, Any]) -> list[str]:
    """The diagnostic's section of report.md."""

    def fmt(est: dict[str, Any] | None) -> str:
        if not est or est.get("mean") is None:
            return "-"
        ci = est.get("ci")
        n, total = sum(v is not None for v in est["values"]), len(est["values"])
        return (f"{est['mean']:+.2f}" + (f" [{ci[0]:+.2f}, {ci[1]:+.2f}]" if ci else "")
                + (f" ({n} of {total} batches)" if n < total else ""))

    lines = ["## Credit-quality diagnostic (no RL)", "", diag.get("definition", "") + ". A batch whose advantages "
             "(or outputs) are all equal has no rho: `k of n batches` says how many had one.", ""]
    for tname, task in diag["tasks"].items():
        lines += [f"### {tname}: `{task['env']}`, oracle `{task['oracle']}`", "",
                  f"{task['batches']} batches of {task['episodes_per_batch']} episodes (~{task['steps_per_batch']:.0f} "
                  f"steps) played by the {task['policy']} policy (success {task['batch_success']:.2f}).", "",
                  "| arm | rho(advantage, oracle) | rho(module output, oracle) | seconds per batch |", "|---|---|---|---|"]
        for arm, e in task["arms"].items():
            if "error" in e:
                lines.append(f"| {arm} | failed: {e['error']} | | |")
            else:
                lines.append(f"| {arm} | {fmt(e['rho_advantage'])} | {fmt(e['rho_signal'])} | {e['seconds']:.1f} |")
        lines.append("")
    return lines
