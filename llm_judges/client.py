"""The training-loop client: submit items now, collect labels whenever they have arrived; never wait.

    client = JudgeClient("http://127.0.0.1:8100", rubric="oni-cls-default")   # or JudgeClient(judge_object, ...)
    client.submit(messages)            # returns at once
    labels = client.poll()             # {item: Label} that arrived since the last poll (maybe empty)

It fixes two pitfalls of ONI's released annotator (research/oni_lare.md §4.4):
- an item awaiting its label (queued or sent) is in the in-flight set and is not queued again;
- the queue is bounded and sent newest first, so the judge labels what the agent sees now; when it is full
  the oldest items are dropped (counted; they can be submitted again later).
The client does not remember delivered labels: keep your own table and submit only what it lacks (as ONI
checks its hash table first); a re-submitted item costs one store lookup on the server.
Requests run in a background thread with its own event loop: against a credo server (`POST /v1/annotate`,
whose store and batching serve every client), or directly against an in-process `Judge` (no server), e.g. the
offline embedding judge. Retryable failures (server or back-end down) put the items back and pause sending for
the advertised Retry-After; other failures drop them from the in-flight set and are counted.

Several replicas (`JudgeClient(["http://a:8100", "http://b:8100"], ...)`, or one comma-separated string, as
`--judge-url` takes them): each item goes to the replica its key hashes to (llm_judges/routing.py), so every
replica's store and de-duplication see all of an item's history. A replica that cannot be reached is marked down
at once and its items are sent to the next replica on the ring without a pause; a `/health` probe every
`health_s` brings it back. Labels are kept by the client as soon as a replica acknowledges them, and each
replica commits them to its store before acknowledging, so a replica's death loses no acknowledged label.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Iterable
from typing import Any

from llm_judges.base import Item, Judge, JudgeError, Label, UpstreamError
from llm_judges.routing import HashRing, route_key
from llm_judges.rubrics import get_rubric

log = logging.getLogger(__name__)


class JudgeClient:
    """Asynchronous, bounded, de-duplicating labeller for a training loop (see the module docstring)."""

    def __init__(self, judge: str | list[str] | Judge, rubric: str, *, api_key: str = "", max_queue: int = 10_000,
                 batch_size: int = 64, max_concurrent: int = 2, timeout_s: float = 60.0, retry_s: float = 5.0,
                 health_s: float = 5.0):
        """`judge`: a server URL (with or without the trailing /v1), several (a list or one comma-separated
        string: items are routed by key), or a `Judge`; `rubric`: the rubric name; `max_queue`: most items waiting
        to be sent; `batch_size`: items per request; `max_concurrent`: requests in flight at once (per replica);
        `timeout_s`: longest wait for one request; `retry_s`: pause after a retryable failure when the server does
        not say how long; `health_s`: how often a replica marked down is probed."""
        if isinstance(judge, Judge):
            get_rubric(rubric)  # in-process: an unknown rubric fails now, in one line (a server knows its own)
        self.rubric, self.batch_size, self.max_concurrent = rubric, batch_size, max_concurrent
        self.timeout_s, self.retry_s, self.health_s = timeout_s, retry_s, health_s
        self._judge = judge if isinstance(judge, Judge) else None
        urls = [] if self._judge else [u.strip().rstrip("/").removesuffix("/v1")
                                        for u in (judge if isinstance(judge, list) else str(judge).split(","))
                                        if u.strip()]
        self._ring = HashRing(urls) if urls else None
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._queue: deque[Item] = deque(maxlen=max_queue)
        self._in_flight: set[Item] = set()
        self._results: dict[Item, Label] = {}
        self._lock = threading.Lock()
        self._paused_until = 0.0
        self.counts = {"submitted": 0, "sent": 0, "received": 0, "unparseable": 0, "dropped": 0, "errors": 0,
                       "retries": 0, "failovers": 0}
        self.sent_to: dict[str, int] = {u: 0 for u in urls}
        """Items sent to each replica (routing is observable: tests, benchmarks)."""
        self.last_error = ""
        self._loop = asyncio.new_event_loop()
        self._wake = asyncio.Event()
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="judge-client", daemon=True)
        self._thread.start()

    # --- the learner's side: never blocks on the network ---------------------------------------------------

    def submit(self, items: Iterable[Item]) -> int:
        """Queue items not already awaiting a label; returns how many were queued."""
        added = 0
        with self._lock:
            for item in items:
                item = tuple(item) if isinstance(item, list) else item
                if item in self._in_flight:
                    continue
                if len(self._queue) == self._queue.maxlen:
                    self._in_flight.discard(self._queue.popleft())  # full: drop the oldest
                    self.counts["dropped"] += 1
                self._queue.append(item)
                self._in_flight.add(item)
                added += 1
            self.counts["submitted"] += added
        if added:
            self._loop.call_soon_threadsafe(self._wake.set)
        return added

    def poll(self) -> dict[Item, Label]:
        """Labels that arrived since the last poll (possibly none)."""
        with self._lock:
            out, self._results = self._results, {}
        return out

    def stats(self) -> dict[str, int]:
        """Counters plus the current queue and in-flight sizes and replicas down (for the learner's metrics)."""
        with self._lock:
            return {**self.counts, "queued": len(self._queue), "in_flight": len(self._in_flight),
                    "replicas_down": len(self._ring.down) if self._ring else 0}

    def close(self) -> None:
        """Stop the background thread (items still in flight are abandoned) and close an in-process judge,
        whose connections belong to the client's event loop."""
        if not self._closing:
            self._closing = True
            self._loop.call_soon_threadsafe(self._wake.set)
            self._thread.join(timeout=10)

    def __enter__(self) -> JudgeClient:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # --- the background thread ------------------------------------------------------------------------------

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._main())
        self._loop.close()

    async def _main(self) -> None:
        import httpx

        http = httpx.AsyncClient(timeout=self.timeout_s) if self._ring else None
        tasks: set[asyncio.Task[None]] = set()
        limit = self.max_concurrent * (len(self._ring.urls) if self._ring else 1)
        next_probe = time.monotonic() + self.health_s
        while not self._closing:
            pause = self._paused_until - time.monotonic()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=pause if pause > 0 else 0.5)
            self._wake.clear()
            if self._ring is not None and time.monotonic() >= next_probe:
                await self._probe(http)
                next_probe = time.monotonic() + self.health_s
            while len(tasks) < limit and time.monotonic() >= self._paused_until:
                with self._lock:  # newest first
                    batch = [self._queue.pop() for _ in range(min(self.batch_size, len(self._queue)))]
                if not batch:
                    break
                for url, part in self._by_replica(batch).items():
                    task = asyncio.create_task(self._send(part, http, url))
                    tasks.add(task)
                    task.add_done_callback(lambda t: (tasks.discard(t), self._wake.set()))
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if http is not None:
            await http.aclose()
        if self._judge is not None:
            await self._judge.aclose()

    def _by_replica(self, batch: list[Item]) -> dict[str | None, list[Item]]:
        """The batch split by the replica each item routes to (None: in-process judge, or every replica down)."""
        if self._ring is None:
            return {None: batch}
        out: dict[str | None, list[Item]] = {}
        for item in batch:
            out.setdefault(self._ring.route(route_key(self.rubric, item)), []).append(item)
        return out

    async def _probe(self, http: Any) -> None:
        """Ask each replica marked down for `/health`; one that answers takes its items back."""
        for url in self._ring.down:
            with contextlib.suppress(Exception):
                if (await http.get(f"{url}/health", timeout=min(self.timeout_s, 5.0))).status_code == 200:
                    self._ring.mark_up(url)
                    log.info("judge replica %s is back", url)

    async def _send(self, batch: list[Item], http: Any, url: str | None = None) -> None:
        self.counts["sent"] += len(batch)
        if url is not None:
            self.sent_to[url] += len(batch)
        unreachable = False
        try:
            if http is None:
                answers, retry_after = await self._ask_judge(batch)
            elif url is None:  # every replica is down: wait for a probe to bring one back
                answers, retry_after = [UpstreamError("every judge replica is down")] * len(batch), self.health_s
            else:
                answers, retry_after, unreachable = await self._ask_server(batch, http, url)
        except Exception as err:  # never let a failure kill the thread: the learner keeps going
            log.exception("judge client: unexpected failure")
            answers, retry_after = [JudgeError(f"{type(err).__name__}: {err}")] * len(batch), None
        retry: list[Item] = []
        with self._lock:
            for item, answer in zip(batch, answers, strict=True):
                if isinstance(answer, Label):
                    self._results[item] = answer
                    self._in_flight.discard(item)
                    self.counts["received"] += 1
                    self.counts["unparseable"] += answer.value is None
                elif isinstance(answer, UpstreamError):
                    retry.append(item)
                    self.last_error = str(answer)
                else:
                    self._in_flight.discard(item)
                    self.counts["errors"] += 1
                    self.last_error = str(answer)
            if retry:  # back to the old end of the queue, after a pause (none when another replica takes them)
                self.counts["retries"] += len(retry)
                room = self._queue.maxlen - len(self._queue)
                for item in retry[room:]:
                    self._in_flight.discard(item)
                    self.counts["dropped"] += 1
                self._queue.extendleft(reversed(retry[:room]))
                if unreachable and len(self._ring.urls) > 1:  # one replica: retried after the pause, as ever
                    self._ring.mark_down(url)
                    log.warning("judge replica %s is unreachable: its items fail over", url)
                if unreachable and len(self._ring.urls) > 1 and len(self._ring.down) < len(self._ring.urls):
                    self.counts["failovers"] += len(retry)
                else:
                    self._paused_until = time.monotonic() + (retry_after or self.retry_s)

    async def _ask_judge(self, batch: list[Item]) -> tuple[list[Label | JudgeError], float | None]:
        try:
            labels = await asyncio.wait_for(self._judge.annotate(batch, self.rubric), self.timeout_s)
        except TimeoutError:
            return [UpstreamError(f"the judge did not answer within {self.timeout_s:g}s")] * len(batch), None
        except JudgeError as err:
            return [err] * len(batch), None
        except (KeyError, ValueError) as err:
            return [JudgeError(str(err.args[0] if err.args else err))] * len(batch), None
        return list(labels), None

    async def _ask_server(self, batch: list[Item], http: Any,
                          url: str) -> tuple[list[Label | JudgeError], float | None, bool]:
        """The replica's answers, its Retry-After, and whether it could not be reached at all."""
        import httpx

        try:
            resp = await http.post(f"{url}/v1/annotate", headers=self._headers,
                                   json={"rubric": self.rubric, "items": [list(i) if isinstance(i, tuple) else i
                                                                          for i in batch]})
        except httpx.HTTPError as err:
            unreachable = isinstance(err, httpx.TransportError)
            return [UpstreamError(f"{url}: {type(err).__name__}: {err}")] * len(batch), None, unreachable
        retry_after = float(resp.headers["retry-after"]) if resp.headers.get("retry-after", "").isdigit() else None
        try:
            body = resp.json()
        except ValueError:
            body = {}
        if "labels" not in body:  # the whole request failed (bad key, bad rubric, too large, server error)
            message = body.get("error", {}).get("message", resp.text[:200]) if isinstance(body, dict) else ""
            kind = UpstreamError if resp.status_code >= 500 or resp.status_code == 429 else JudgeError
            return [kind(f"{url}: HTTP {resp.status_code}: {message}")] * len(batch), retry_after, False
        errors = {e["index"]: e for e in body.get("errors", [])}
        out: list[Label | JudgeError] = []
        for i, lab in enumerate(body["labels"]):
            if lab is not None:
                out.append(Label(lab["value"], raw=lab.get("raw", ""), cached=lab.get("cached", False)))
            else:
                err = errors.get(i, {"message": "no label", "retryable": True})
                out.append((UpstreamError if err["retryable"] else JudgeError)(err["message"]))
        return out, retry_after, False
