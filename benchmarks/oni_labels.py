"""How well ONI's judge labels real game messages: precision and recall of each rubric against hand labels.

    python benchmarks/oni_labels.py                                   # every ONI goal rubric, embedding judge
    python benchmarks/oni_labels.py --rubrics oni-cls-default oni-cls-keyroom --show-errors
    python benchmarks/oni_labels.py --backend openai --base-url http://gpu:8000/v1 --model meta-llama/Llama-3.1-8B-Instruct

The labelled set is `benchmarks/data/oni_messages.jsonl` (real messages from seeded random play, collected by
`benchmarks/oni_messages.py`, labelled by hand per goal; the goals and rules are in `benchmarks/data/README.md`).
Each rubric is scored against the goal it asks about (`RUBRIC_GOALS`), over distinct messages (what ONI's label
table holds) and weighted by how often each message occurred (what a policy meets per step), with 95% Wilson
intervals. The sentinel table shows what each rubric says about the messages the review singled out (the key
pick-up, the unlock, the up-stairs message and the everyday noise).

The local back-end's `tiny` model is credo's untrained policy model (it never writes FOO), so it is not a
judge worth measuring; `--backend local --model <checkpoint>` measures a real local LLM.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from oni_messages import DATA, GOALS, load

RUBRIC_GOALS: dict[str, tuple[str, ...]] = {
    "oni-cls-default": ("progress",),
    "oni-cls-gold": ("gold",),
    "oni-cls-combat": ("combat",),
    "oni-cls-stairs": ("stairs",),
    "oni-cls-key": ("key",),
    "oni-cls-door": ("door",),
    "oni-cls-keyroom": ("key", "door", "stairs"),
    "oni-cls-fountain": ("fountain",),
}
"""Rubric -> the hand-labelled goals it should call helpful (a message is positive when any of them is 1)."""

SENTINELS: dict[str, str] = {
    "key pick-up": "g - a key named The Master Key of Thievery.",
    "on the key": "You see here a key named The Master Key of Thievery.",
    "unlock": "You succeed in unlocking the door",
    "door opens": "The door opens.",
    "up-stairs pick-up": "The stairs are solidly fixed to the floor.",
    "greeting": "Hello Agent, welcome to NetHack!  You are a chaotic male human Rogue.",
    "no objects": "You see no objects here.",
    "hinges": "It won't come off the hinges.",
    "locked door": "This door is locked.",
    "gold": "$ - 3 gold pieces.",
    "kill": "You kill the jackal!",
}
"""Sentinel name -> a message of the set (or a fragment of one) to show every rubric's label for."""


def truth(record: dict[str, Any], goals: tuple[str, ...]) -> int:
    return int(any(record["labels"][g] for g in goals))


def scores(pred: list[float], gold: list[int], weights: list[int]) -> dict[str, Any]:
    """Precision/recall/F1 (weighted counts) with Wilson intervals on the unweighted counts when unweighted."""
    from agents.evaluate import wilson_interval

    tp = sum(w for p, g, w in zip(pred, gold, weights, strict=True) if p and g)
    pp = sum(w for p, w in zip(pred, weights, strict=True) if p)
    pos = sum(w for g, w in zip(gold, weights, strict=True) if g)
    precision = tp / pp if pp else float("nan")
    recall = tp / pos if pos else float("nan")
    f1 = 2 * precision * recall / (precision + recall) if pp and pos and precision + recall else 0.0
    out = {"tp": tp, "predicted": pp, "positives": pos, "precision": precision, "recall": recall, "f1": f1}
    if set(weights) == {1}:
        out["precision_ci"] = wilson_interval(tp, pp) if pp else (float("nan"),) * 2
        out["recall_ci"] = wilson_interval(tp, pos) if pos else (float("nan"),) * 2
    return out


async def label_all(judge: Any, messages: list[str], rubric: str, batch: int = 64) -> list[float]:
    out: list[float] = []
    for i in range(0, len(messages), batch):
        labels = await judge.annotate(messages[i:i + batch], rubric)
        out += [0.0 if lab.value is None else float(lab.value) for lab in labels]
    return out


def fmt(value: float, ci: tuple[float, float] | None = None) -> str:
    if value != value:  # nan
        return "-"
    return f"{value:.2f}" + (f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--rubrics", nargs="*", default=None, help="Rubrics to score (default: every known one of "
                                                                   "RUBRIC_GOALS).")
    parser.add_argument("--backend", default="embedding", choices=["embedding", "local", "openai"])
    parser.add_argument("--model", default="", help="JudgeConfig.model for the back-end.")
    parser.add_argument("--base-url", default=None, help="openai back-end: the server's /v1 URL.")
    parser.add_argument("--show-errors", action="store_true", help="List the messages each rubric gets wrong.")
    parser.add_argument("--json", type=Path, default=None, help="Also write every number to this file.")
    args = parser.parse_args()

    from rich.console import Console
    from rich.table import Table

    from llm_judges.backends import make_judge
    from llm_judges.config import JudgeConfig
    from llm_judges.rubrics import rubrics

    records = load(args.data)
    unlabelled = [r["message"] for r in records if r["labels"] is None]
    if not records or unlabelled:
        sys.exit(f"{args.data}: {len(unlabelled)} of {len(records)} messages have no hand labels yet; "
                 f"label them first (goals: {', '.join(GOALS)})")
    known = rubrics()
    names = args.rubrics or [r for r in RUBRIC_GOALS if r in known]
    for name in names:
        if name not in RUBRIC_GOALS or name not in known:
            sys.exit(f"--rubrics: {name!r} is not a known rubric with a goal in RUBRIC_GOALS")
    config = JudgeConfig(backend=args.backend, model=args.model,
                         **({"base_url": args.base_url} if args.base_url else {}))
    judge = make_judge(config)
    messages = [r["message"] for r in records]
    counts = [int(r["count"]) for r in records]
    console = Console(width=max(Console().width, 150))
    table = Table(title=f"{len(records)} distinct messages ({sum(counts)} steps), judge {args.backend}"
                        f"{' ' + args.model if args.model else ''}: precision / recall per rubric")
    columns = ("rubric", "goal", "positives", "called helpful", "precision [95% CI]", "recall [95% CI]", "F1",
               "step-weighted P / R")
    for col in columns:
        table.add_column(col)
    results: dict[str, Any] = {}
    predictions: dict[str, list[float]] = {}
    with console.status("judging"):
        for name in names:
            goals = RUBRIC_GOALS[name]
            pred = asyncio.run(label_all(judge, messages, name))
            gold = [truth(r, goals) for r in records]
            per_message = scores(pred, gold, [1] * len(records))
            per_step = scores(pred, gold, counts)
            predictions[name] = pred
            results[name] = {"goals": goals, "messages": per_message, "steps": per_step}
            table.add_row(name, " or ".join(goals), str(per_message["positives"]), str(per_message["predicted"]),
                          fmt(per_message["precision"], per_message["precision_ci"]),
                          fmt(per_message["recall"], per_message["recall_ci"]), fmt(per_message["f1"]),
                          f"{fmt(per_step['precision'])} / {fmt(per_step['recall'])}")
            if args.show_errors:
                for message, p, g in zip(messages, pred, gold, strict=True):
                    if bool(p) != bool(g):
                        print(f"  {name}: {'false positive' if p else 'missed'}: {message[:110]!r}")
    console.print(table)

    sentinel = Table(title="What each rubric calls helpful (1) among the messages the review singled out")
    sentinel.add_column("message")
    for name in names:
        sentinel.add_column(name.removeprefix("oni-cls-"))
    for label, fragment in SENTINELS.items():
        index = next((i for i, m in enumerate(messages) if fragment in m), None)
        if index is None:
            continue
        sentinel.add_row(label, *(str(int(predictions[n][index])) for n in names))
    console.print(sentinel)

    print("| " + " | ".join(columns) + " |\n|" + "---|" * len(columns))  # the same table, for RESULTS.md
    for row in zip(*(col.cells for col in table.columns), strict=True):
        print("| " + " | ".join(row) + " |")
    print("\n| message | " + " | ".join(n.removeprefix("oni-cls-") for n in names) + " |\n|"
          + "---|" * (len(names) + 1))
    for row in zip(*(col.cells for col in sentinel.columns), strict=True):
        print("| " + " | ".join(row) + " |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=list))


if __name__ == "__main__":
    main()
