"""An acknowledged label survives `kill -9` of `credo judge serve` during a load, and the restarted server
answers it from the store even with its back-end down."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from llm_judges.testing import ScriptedUpstream, serve_in_thread

RUBRIC = "oni-cls-default"


def start_server(cwd: Path, upstream_url: str) -> tuple[subprocess.Popen, str]:
    """`credo judge serve` in a subprocess on a free loopback port; returns it and its URL."""
    cmd = [sys.executable, "-m", "credo.cli", "judge", "serve", "--backend", "openai", "--base-url",
           f"{upstream_url}/v1", "--port", "0", "--name", "durable", "--api-key", "k",
           "judge.max_retries=0", "max_wait_ms=5", "request_timeout_s=5"]
    proc = subprocess.Popen(cmd, cwd=cwd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if m := re.search(r"listening on (http://\S+)", line):
            return proc, m.group(1)
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise AssertionError(f"server did not start: {proc.stderr.read()[-2000:]}")


async def load(url: str, acked: dict[str, float], limit: int = 5000) -> None:
    """8 workers send 4 new items per request until the server dies (at most `limit` labels); record every label
    acknowledged with a 200."""
    counter = iter(range(10**6))

    async def worker(client: httpx.AsyncClient) -> None:
        while len(acked) < limit:
            items = [f"message {next(counter)} gold" if i % 2 else f"message {next(counter)}" for i in range(4)]
            try:
                r = await client.post(f"{url}/v1/annotate", json={"rubric": RUBRIC, "items": items},
                                      headers={"Authorization": "Bearer k"})
            except httpx.HTTPError:
                return  # the server died under us
            if r.status_code == 200:
                for item, lab in zip(items, r.json()["labels"], strict=True):
                    acked[item] = lab["value"]

    async with httpx.AsyncClient(timeout=10) as client:
        await asyncio.gather(*(worker(client) for _ in range(8)))


def test_kill_9_during_load_loses_no_acknowledged_label(tmp_path):
    up = ScriptedUpstream(latency_s=0.02)
    with serve_in_thread(up.app) as up_url:
        proc, url = start_server(tmp_path, up_url)
        acked: dict[str, float] = {}
        try:
            async def run() -> None:
                task = asyncio.create_task(load(url, acked))
                while len(acked) < 200 and not task.done():
                    await asyncio.sleep(0.01)
                os.kill(proc.pid, signal.SIGKILL)  # mid-load: requests are in flight
                await task

            asyncio.run(run())
        finally:
            proc.kill()
            proc.wait()
        assert len(acked) >= 200 and proc.returncode == -signal.SIGKILL
        assert (tmp_path / "runs" / "durable" / "labels.sqlite").exists()

        up.mode = "error"  # only the store can answer now
        proc, url = start_server(tmp_path, up_url)
        try:
            items = list(acked)
            r = httpx.post(f"{url}/v1/annotate", json={"rubric": RUBRIC, "items": items},
                           headers={"Authorization": "Bearer k"}, timeout=30)
            assert r.status_code == 200, r.text[:300]
            labels = r.json()["labels"]
            assert all(lab["cached"] for lab in labels)
            assert {i: lab["value"] for i, lab in zip(items, labels, strict=True)} == acked
            assert set(acked.values()) == {0.0, 1.0}
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=30)
