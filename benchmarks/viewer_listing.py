"""How fast `credo runs serve` answers on a large run: 1,000 iterations, 100 logged episodes each (100k episodes).

Writes such a run (tests/_viewer_helpers.make_run: real `Episode.to_dict()` lines, one step each so the folder stays
~70 MB; the runs listing never opens episode files, so their length does not change it) next to `--small` ordinary
runs, then times, through the real FastAPI app (in-process HTTP client), the best of `--repeats`:
1. the runs table (`GET /api/runs`) against the baseline `credo runs list` uses (`RunDir.summary()` of each run,
   which reads every metrics row), and against reading every episode file once (what a listing that counted
   episodes would cost);
2. one iteration's page of episodes, first visit (the file is indexed) and again (index cached);
3. one whole episode, and one run's metric columns (`GET /api/metrics`, all keys).

    python benchmarks/viewer_listing.py [--iterations 1000] [--episodes 100] [--small 9] [--repeats 3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from _report import best_of, print_ratio_table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: tests._viewer_helpers

from fastapi.testclient import TestClient  # noqa: E402

from agents.runs import RunDir  # noqa: E402
from tests._viewer_helpers import make_run  # noqa: E402
from viewer.app import create_app  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iterations", type=int, default=1000)
    ap.add_argument("--episodes", type=int, default=100, help="Logged episodes per iteration.")
    ap.add_argument("--small", type=int, default=9, help="Ordinary runs (3 iterations) listed next to the big one.")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        big = make_run(root, "big", iterations=args.iterations, episodes_per_iter=args.episodes, length=1)
        for k in range(args.small):
            make_run(root, f"small-{k}")
        size = sum(p.stat().st_size for p in big.rglob("*") if p.is_file())
        print(f"wrote {args.iterations} iterations x {args.episodes} episodes ({size / 1e6:.0f} MB) and {args.small} "
              f"small runs in {time.perf_counter() - t0:.1f} s")

        def get(client: TestClient, path: str, **params: object) -> dict:
            res = client.get(path, params=params)
            res.raise_for_status()
            return res.json()

        warm = TestClient(create_app(root))
        get(warm, "/api/runs")
        listing = best_of(args.repeats, lambda: get(TestClient(create_app(root)), "/api/runs"))
        summaries = best_of(args.repeats, lambda: [r.summary() for r in RunDir.find_all(root)])
        every_episode = best_of(1, lambda: [p.read_bytes() for p in (big / "episodes").iterdir()])
        mid = args.iterations // 2
        first_page = best_of(1, lambda: get(warm, "/api/episodes", run="big", iteration=mid))
        cached_page = best_of(args.repeats, lambda: get(warm, "/api/episodes", run="big", iteration=mid))
        episode = best_of(args.repeats, lambda: get(warm, "/api/episode", run="big", iteration=mid, index=7))
        metrics = best_of(args.repeats, lambda: get(warm, "/api/metrics", run="big"))
    ms = lambda s: f"{1000 * s:.1f} ms"  # noqa: E731
    n = args.small + 1
    print_ratio_table(f"credo runs serve on {n} runs, one with {args.iterations * args.episodes:,} episodes", [
        (f"runs table, {n} runs (vs RunDir.summary: all metrics rows)", ms(summaries), ms(listing),
         f"{summaries / listing:.1f}x"),
        ("runs table vs reading the big run's episode files once", ms(every_episode), ms(listing),
         f"{every_episode / listing:.0f}x"),
        (f"page of 50 episodes, iteration {mid}: first visit vs cached", ms(first_page), ms(cached_page),
         f"{first_page / cached_page:.1f}x"),
        ("one whole episode", "-", ms(episode), "-"),
        (f"metric columns of {args.iterations} iterations, all keys", "-", ms(metrics), "-"),
    ])


if __name__ == "__main__":
    main()
