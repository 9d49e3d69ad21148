"""Judge throughput: NetHack messages labelled through `credo judge serve` vs one request per message.

    python benchmarks/judge_throughput.py [--steps 3000] [--items 1000] [--latency 0.05] [--concurrency 8]

The stream: messages decoded from raw `nle` NetHackScore-v0 under random actions (as ONI captions steps).
The back-end: `llm_judges.testing.ScriptedUpstream`, an OpenAI-compatible server on loopback answering by rule
after a fixed delay per request (`--latency`, like one batched forward pass of an LLM server), so the numbers
measure the judging layer, not a model. Both paths use the same `openai` back-end class against it:
- baseline: one chat request per message (`OpenAIJudge.annotate([msg])`), `--concurrency` at once;
- server: the same stream, one message per HTTP request, `--concurrency` at once, to `credo judge serve`
  (store, de-duplication, cross-request batching, legacy completions with many prompts per call);
- client: the same stream through `JudgeClient` (the training-loop client) to the server.
Then a bounded concurrent-load run (`--load-requests` requests of 8 messages from `--load-clients` clients,
fresh store) reports p50/p99 latency and errors. Results go to runs/judge-throughput/results.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import tempfile
import time
from pathlib import Path

import httpx
from rich.console import Console
from rich.progress import track
from rich.table import Table

from llm_judges.backends import make_judge
from llm_judges.client import JudgeClient
from llm_judges.config import JudgeConfig, ServeConfig
from llm_judges.server import create_app
from llm_judges.testing import ScriptedUpstream, serve_in_thread

RUBRIC = "oni-cls-default"


def nethack_messages(steps: int, seed: int = 0) -> list[str]:
    """Messages seen over `steps` random-action steps of NetHackScore-v0 (empty message included, as ONI)."""
    import gymnasium as gym
    import nle  # noqa: F401  (registers the NetHack envs)

    env = gym.make("NetHackScore-v0")
    rng = random.Random(seed)
    episode = 0
    env.unwrapped.seed(core=seed, disp=seed, reseed=False)  # NLE's reset(seed=) does not seed NetHack itself
    obs, _ = env.reset()
    out = []
    for _ in track(range(steps), description="random NetHack play"):
        out.append(bytes(obs["message"]).rstrip(b"\0").decode("latin-1").strip())
        obs, _, term, trunc, _ = env.step(rng.randrange(env.action_space.n))
        if term or trunc:
            episode += 1
            env.unwrapped.seed(core=seed + episode, disp=seed + episode, reseed=False)
            obs, _ = env.reset()
    env.close()
    return out


async def baseline(messages: list[str], base_url: str, concurrency: int) -> float:
    judge = make_judge(JudgeConfig(backend="openai", base_url=base_url, concurrency=concurrency, max_retries=0))
    queue = list(messages)

    async def worker() -> None:
        while queue:
            await judge.annotate([queue.pop()], RUBRIC)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    await judge.aclose()
    return time.perf_counter() - start


async def through_server(messages: list[str], url: str, concurrency: int, per_request: int = 1,
                         latencies: list[float] | None = None) -> tuple[float, int]:
    queue = [messages[i:i + per_request] for i in range(0, len(messages), per_request)]
    errors = 0

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal errors
        while queue:
            items = queue.pop()
            t = time.perf_counter()
            r = await client.post(f"{url}/v1/annotate", json={"rubric": RUBRIC, "items": items})
            if latencies is not None:
                latencies.append(time.perf_counter() - t)
            errors += r.status_code != 200

    start = time.perf_counter()
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    return time.perf_counter() - start, errors


def with_client(messages: list[str], url: str) -> float:
    start = time.perf_counter()
    got: set[str] = set()
    with JudgeClient(url, RUBRIC, batch_size=64) as client:
        for i in range(0, len(messages), 16):  # a learner submitting every few steps, never waiting
            client.submit(messages[i:i + 16])
            got.update(client.poll())
        while len(got) < len(set(messages)) and time.perf_counter() - start < 120:
            time.sleep(0.005)
            got.update(client.poll())
    return time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=3000, help="random NetHack steps to collect messages from")
    p.add_argument("--items", type=int, default=1000, help="messages in the labelled stream")
    p.add_argument("--latency", type=float, default=0.05, help="fixed upstream seconds per request")
    p.add_argument("--concurrency", type=int, default=8, help="requests in flight at once (both paths)")
    p.add_argument("--load-clients", type=int, default=32)
    p.add_argument("--load-requests", type=int, default=1000)
    args = p.parse_args()
    console = Console()

    pool = nethack_messages(args.steps)
    rng = random.Random(1)
    stream = [rng.choice(pool) for _ in range(args.items)]
    console.print(f"{len(pool)} messages from random play, {len(set(pool))} distinct; stream of {len(stream)} "
                  f"({len(set(stream))} distinct)")
    rows: dict[str, dict[str, float]] = {}
    up = ScriptedUpstream(latency_s=args.latency)
    with serve_in_thread(up.app) as up_url, tempfile.TemporaryDirectory() as tmp:
        before = up.requests
        secs = asyncio.run(baseline(stream, f"{up_url}/v1", args.concurrency))
        rows["one request per message"] = {"items_per_s": len(stream) / secs,
                                           "upstream_calls_per_1k": 1000 * (up.requests - before) / len(stream)}
        judge = {"backend": "openai", "base_url": f"{up_url}/v1", "api": "completions", "batch_size": 64,
                 "max_retries": 0}
        for name, runner in [("credo server, 1 item/request", "server"), ("credo server via JudgeClient", "client")]:
            config = ServeConfig.build({"judge": judge, "store": f"{tmp}/{runner}.sqlite", "max_wait_ms": 20,
                                        "max_batch_size": 64})
            with serve_in_thread(create_app(config)) as url:
                before = up.requests
                if runner == "server":
                    secs, errors = asyncio.run(through_server(stream, url, args.concurrency))
                    assert errors == 0, f"{errors} failed requests"
                else:
                    secs = with_client(stream, url)
                rows[name] = {"items_per_s": len(stream) / secs,
                              "upstream_calls_per_1k": 1000 * (up.requests - before) / len(stream)}

        load_items = [rng.choice(pool) for _ in range(args.load_requests * 8)]
        config = ServeConfig.build({"judge": judge, "store": f"{tmp}/load.sqlite"})
        latencies: list[float] = []
        with serve_in_thread(create_app(config)) as url:
            secs, errors = asyncio.run(asyncio.wait_for(
                through_server(load_items, url, args.load_clients, per_request=8, latencies=latencies), 300))
    q = statistics.quantiles(latencies, n=100)
    load = {"requests": len(latencies), "clients": args.load_clients, "seconds": secs, "errors": errors,
            "p50_ms": 1000 * q[49], "p99_ms": 1000 * q[98], "requests_per_s": len(latencies) / secs}

    base = rows["one request per message"]["items_per_s"]
    table = Table(title=f"judge throughput: {len(stream)} NetHack messages, upstream latency {args.latency * 1000:g} ms, "
                        f"concurrency {args.concurrency}")
    for col in ("path", "items/s", "x baseline", "upstream calls / 1k items"):
        table.add_column(col, justify="right" if col != "path" else "left")
    for name, row in rows.items():
        table.add_row(name, f"{row['items_per_s']:.0f}", f"{row['items_per_s'] / base:.1f}",
                      f"{row['upstream_calls_per_1k']:.0f}")
    console.print(table)
    console.print(f"concurrent load: {load['requests']} requests x 8 items from {load['clients']} clients in "
                  f"{load['seconds']:.1f}s: p50 {load['p50_ms']:.0f} ms, p99 {load['p99_ms']:.0f} ms, "
                  f"{load['errors']} errors")
    out = Path("runs/judge-throughput")
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps({"args": vars(args), "paths": rows, "load": load}, indent=2))
    console.print(f"wrote {out / 'results.json'}")


if __name__ == "__main__":
    main()
