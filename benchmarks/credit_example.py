"""Which steps of one KeyRoom episode each credit module credits, under the papers' wiring and the former one.

    python benchmarks/credit_example.py [--groups 4] [--warmup 2] [--seed 0]

The untrained tiny policy plays KeyRoom-Fixed-S5 (cap 200) on the diagnostic's seeds; the suite's KeyRoom arms
(agents/bench/suites/credit.yaml) are built as training builds them, fitted on `--warmup` batches, then run on a
batch holding a success. For the first successful episode the script prints the per-step advantage each arm hands
the learner at the episode's landmarks (key picked up, door unlocked, the last step) and its mean elsewhere, next
to the oracle advantage (agents/bench/oracle.py), for SPA and LaRe both with `combine=replace` (now) and
`combine=advantage` (the former wiring: an immediate, group-normalised step advantage on top of the outcome's).
It is an illustration of one episode, not a measurement: `credo bench credit --diagnostic` is the measurement.
"""

from __future__ import annotations

import argparse
import copy
import tempfile
from pathlib import Path

import numpy as np

import envs
from agents import advantages as adv_lib
from agents.bench.diagnostic import SEED_BASE, collect
from agents.bench.oracle import replay, values
from agents.bench.suite import cells, load_suite
from agents.credit_step import assign_credit, build_modules
from agents.policy import Policy
from agents.prompts import PromptBuilder
from credo.seeding import seed_everything

ARMS = ["outcome", "spa-online", "spa-exact", "lare-informative", "oprl-w0.1", "gigpo", "oni-keyroom"]
FORMER = {"spa-online": "spa", "lare-informative": "lare"}  # arms whose former wiring differs: combine=advantage


def advantages(config, policy, warmups, batch):
    batch = copy.deepcopy(batch)
    with tempfile.TemporaryDirectory() as tmp:
        modules = build_modules(config, policy, Path(tmp), lambda: envs.make(config.env, **config.env_kwargs))
        try:
            for warm in copy.deepcopy(warmups):
                assign_credit(modules, warm)
            signals, _ = assign_credit(modules, batch)
        finally:
            for _, _, m in modules:
                m.close()
    return adv_lib.compute(batch, signals, config.advantage, gamma=config.gamma).per_episode


def landmarks(states) -> dict[str, int]:
    """The steps that picked up the key and opened the door (from the replayed states), and the last step."""
    out = {}
    for t in range(len(states) - 1):
        if states[t + 1].has_key and not states[t].has_key and "key picked up" not in out:
            out["key picked up"] = t
        if states[t + 1].door_open and not states[t].door_open and "door opened" not in out:
            out["door opened"] = t
    out["last step"] = len(states) - 2
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    suite = load_suite("credit")
    by_arm = {c.arm: c.config for c in cells(suite, Path("/tmp/credit-example"), 1, ["keyroom"], ARMS)}
    base = by_arm["outcome"]
    seed_everything(args.seed)
    policy = Policy.from_config(base.policy, [base.env], base.env_kwargs)
    policy.model.eval()
    builder = PromptBuilder.for_policy(envs.card(base.env).family, policy, base.prompt)
    warm = [collect(policy, builder, base, SEED_BASE + 900 + j, args.groups) for j in range(args.warmup)]
    j = args.warmup
    while True:
        batch = collect(policy, builder, base, SEED_BASE + 900 + j, args.groups)
        if any(ep.success for ep in batch):
            break
        warm.append(batch)
        j += 1
    k = next(i for i, ep in enumerate(batch) if ep.success)
    env = envs.make(base.env, **base.env_kwargs)
    states = replay(env, batch[k])
    oracle = np.diff(values(states, "keyroom"))
    env.close()
    columns = {"oracle": oracle}
    for arm in ARMS:
        columns[arm] = advantages(by_arm[arm], policy, warm, batch)[k]
        if arm in FORMER:
            old = copy.deepcopy(by_arm[arm])
            cfg = dict(old.credit_config)
            cfg[FORMER[arm]] = {**cfg.get(FORMER[arm], {}), "combine": "advantage"}
            old = type(old).build({**old.model_dump(mode="json"), "credit_config": cfg})
            columns[f"{arm} (former)"] = advantages(old, policy, warm, batch)[k]
    marks = landmarks(states)
    rest = np.ones(batch[k].length, dtype=bool)
    rest[list(marks.values())] = False
    print(f"KeyRoom-Fixed-S5, episode {batch[k].episode_id}: {batch[k].length} steps, success; warm-up batches "
          f"{len(warm)} of {args.groups} groups x {base.group_size}\n")
    print("| arm | " + " | ".join(f"{name} (t={t})" for name, t in marks.items()) + " | mean of other steps |")
    print("|---|" + "---|" * (len(marks) + 1))
    for name, adv in columns.items():
        cells_ = [f"{adv[t]:+.2f}" for t in marks.values()]
        print(f"| {name} | " + " | ".join(cells_) + f" | {adv[rest].mean():+.2f} |")


if __name__ == "__main__":
    main()
