"""LaRe sandbox overhead: evaluations/s of generated code in the sandbox worker vs the same code in-process.

    python benchmarks/lare_sandbox.py [--states 20000] [--repeats 3]

The in-process baseline `exec`s the code in a plain namespace and calls `evaluate` on each state (what LaRe's
released code does, minus its re-`exec` per call). The sandbox sends states over the pipe in batches of 1, 64 and
1024 (LaReConfig.eval_batch defaults to 1024), so the table shows what batching buys. Best of `--repeats` runs
(wall clock: the worker is another process); ratios are against the baseline measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

from rich.console import Console
from rich.progress import track
from rich.table import Table

from credit.lare_prompts import parse_reply
from credit.lare_sandbox import Sandbox

FIXTURE = Path(__file__).parents[1] / "tests" / "fixtures" / "lare" / "good.json"
NUMPY_CODE = """import numpy as np


def evaluate(state):
    inv = np.array([len(x) for x in state.get("inventory") or [""]], dtype=float)
    pts = np.array([state.get("points", 0), state.get("max_points", 1)], dtype=float)
    return [float(pts[0] / max(pts[1], 1.0)), float(inv.mean()), float(np.log1p(state.get("moves", 0)))]
"""


def states(n: int, seed: int = 0) -> list[dict]:
    """TextWorld-shaped states (credo/TextWorld-* `info["state"]`)."""
    rng = random.Random(seed)
    rooms = ["Kitchen", "Cellar", "Pantry", "Salon", "Attic"]
    return [{"room": rng.choice(rooms), "inventory": rng.sample(["coin", "key", "apple", "lamp"], rng.randrange(4)),
             "points": rng.randrange(4), "max_points": 3, "moves": rng.randrange(100), "won": False, "lost": False,
             "game": rng.randrange(10)} for _ in range(n)]


def best_rate(fn, n: int, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return n / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--states", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    data = states(args.states)
    codes = {"python (fixture good.json)": parse_reply(json.loads(FIXTURE.read_text())["calls"][1]["replies"][0]),
             "numpy": NUMPY_CODE}
    table = Table(title=f"LaRe sandbox overhead ({args.states} states, best of {args.repeats})")
    for col in ("code", "path", "evals/s", "x in-process"):
        table.add_column(col, justify="right" if col != "code" and col != "path" else "left")
    for name, code in track(list(codes.items()), description="benchmarking"):
        namespace: dict = {}
        exec(compile(code, "<bench>", "exec"), namespace)  # noqa: S102 -- the trusted in-process baseline
        func = namespace["evaluate"]
        base = best_rate(lambda f=func: [f(s) for s in data], len(data), args.repeats)
        table.add_row(name, "in-process (baseline)", f"{base:,.0f}", "1.00")
        t0 = time.perf_counter()
        sandbox = Sandbox(code)
        table.add_row(name, "sandbox start-up (spawn, jail, compile)", f"{time.perf_counter() - t0:.2f} s", "")
        with sandbox:
            for batch in (1, 64, 1024):
                n = min(len(data), 2000) if batch == 1 else len(data)
                rate = best_rate(lambda b=batch, k=n, s=sandbox: s.evaluate(data[:k], batch_size=b), n, args.repeats)
                table.add_row(name, f"sandbox, {batch} states per message", f"{rate:,.0f}", f"{rate / base:.2f}")
    Console().print(table)


if __name__ == "__main__":
    main()
