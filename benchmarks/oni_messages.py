"""Collect the game messages ONI's judge sees, from seeded random play, into the hand-labelled set.

    python benchmarks/oni_messages.py                 # the recorded collection (the SOURCES and seeds below)
    python benchmarks/oni_messages.py --only credo/NetHackScore-v0 --seeds 100-129

Each step's caption is what `credit.oni.caption` gives for MiniHack/NetHack: the messages of the observation the
action was taken at (those behind --More-- joined), cut to 256 characters; the empty message is skipped. The
policy is uniform over the admissible actions (`credo eval --policy random`), one `random.Random(seed)` per
episode, and every env is reset with that seed, so a run repeats exactly.

The output, `benchmarks/data/oni_messages.jsonl`, has one distinct message per line:
`{"message", "count", "envs": {env_id: count}, "labels": {goal: 0|1} | null, "note"}`. Re-running merges: known
messages keep their labels and notes (their counts become the new collection's when it saw them), new ones are
appended with `labels: null` for a person to fill in by reading them (the goals and the rules are in
`benchmarks/data/README.md`); `benchmarks/oni_labels.py` refuses a file with unlabelled messages.
"""

from __future__ import annotations

import argparse
import json
import random
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

DATA = Path(__file__).parent / "data" / "oni_messages.jsonl"
GOALS = ("key", "door", "stairs", "fountain", "gold", "combat", "progress")
"""The goals a message is labelled for (what each means: benchmarks/data/README.md)."""


def fountain_room() -> str:
    """A lit 7x5 room with a fountain, gold, a newt and a jackal, hero top-left, stairs down bottom-right: MiniHack
    has no fountain task, and random play rarely meets one in NetHack."""
    from minihack import LevelGenerator

    level = LevelGenerator(w=7, h=5)
    level.set_start_pos((0, 0))
    level.add_fountain(place=(2, 1))
    level.add_gold(20, place=(1, 2))
    level.add_gold(5, place=(4, 3))
    level.add_monster("newt", place=(5, 1))
    level.add_monster("jackal", place=(3, 4))
    level.add_goal_pos((6, 4))
    return level.get_des()


# (env id, env kwargs factory, episode step cap, seeds): the recorded collection.
SOURCES: list[tuple[str, Any, int, range]] = [
    ("credo/MiniHack-Room-5x5-v0", dict, 100, range(0, 20)),
    ("credo/MiniHack-Room-Monster-5x5-v0", dict, 100, range(0, 20)),
    ("credo/MiniHack-Corridor-R2-v0", dict, 200, range(0, 20)),
    ("credo/MiniHack-KeyRoom-Fixed-S5-v0", dict, 200, range(0, 40)),
    ("credo/MiniHack-KeyRoom-S5-v0", dict, 200, range(0, 40)),
    ("credo/MiniHack-Skill-Custom-v0", lambda: {"des_file": fountain_room()}, 150, range(0, 30)),
    ("credo/NetHackScore-v0", dict, 300, range(0, 40)),
]


def collect(env_id: str, kwargs: dict[str, Any], cap: int, seeds: range) -> Counter[str]:
    """Message counts over seeded random episodes of one env."""
    import envs
    from credit.oni_reward_models import MESSAGE_BYTES

    counts: Counter[str] = Counter()
    env = envs.make(env_id, max_episode_steps=cap, **kwargs)
    try:
        for seed in seeds:
            rng = random.Random(seed)
            _, info = env.reset(seed=seed)
            for _ in range(cap):
                message = info["state"].get("message", "")[:MESSAGE_BYTES]
                if message:
                    counts[message] += 1
                _, _, terminated, truncated, info = env.step(rng.choice(info["admissible_actions"]))
                if terminated or truncated:
                    break
    finally:
        env.close()
    return counts


def load(path: Path = DATA) -> list[dict[str, Any]]:
    """The labelled set, one record per distinct message."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def merge(records: list[dict[str, Any]], seen: dict[str, Counter[str]]) -> list[dict[str, Any]]:
    """Old records (labels kept, counts refreshed where this collection saw the message) + new unlabelled ones."""
    by_message = {r["message"]: r for r in records}
    for message, per_env in seen.items():
        record = by_message.setdefault(message, {"message": message, "labels": None, "note": ""})
        record["count"] = sum(per_env.values())
        record["envs"] = dict(sorted(per_env.items()))
    return sorted(by_message.values(), key=lambda r: (-r["count"], r["message"]))


def parse_seeds(text: str) -> range:
    first, _, last = text.partition("-")
    return range(int(first), int(last or first) + 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", default=None, help="Collect only these env ids of SOURCES.")
    parser.add_argument("--seeds", type=parse_seeds, default=None, help="Seeds as FIRST-LAST (default: SOURCES').")
    parser.add_argument("--out", type=Path, default=DATA)
    args = parser.parse_args()

    from rich.progress import Progress

    sources = [s for s in SOURCES if args.only is None or s[0] in args.only]
    seen: dict[str, Counter[str]] = defaultdict(Counter)
    with Progress() as progress:
        task = progress.add_task("random play", total=len(sources))
        for env_id, kwargs, cap, seeds in sources:
            for message, n in collect(env_id, kwargs(), cap, args.seeds or seeds).items():
                seen[message][env_id] += n
            progress.advance(task)
    old = load(args.out)
    records = merge(old, seen)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    unlabelled = sum(r["labels"] is None for r in records)
    print(f"{len(seen)} distinct messages from {len(sources)} envs; {args.out}: {len(records)} messages "
          f"({len(records) - len(old)} new), {unlabelled} still to label by hand (goals: {', '.join(GOALS)})")


if __name__ == "__main__":
    main()
