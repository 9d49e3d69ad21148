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
from llm_judges.rubrics import get_rubric

log = logging.getLogger(__name__)


class JudgeClient:
    """Asynchronous, bounded, de-duplicating labeller for a training loop (see the module docstring)."""

    def __init__(self, judge: str | Judge, rubric: str, *, api_key: str = "", max_queue: int = 10_000,
                 batch_size: int = 64, max_concurrent: int = 2, timeout_s: float = 60.0, retry_s: float = 5.0):
        """`judge`: a server URL (with or without the trailing /v1) or a `Judge`; `rubric`: the rubric name;
        `max_queue`: most items waiting to be sent; `batch_size`: items per request; `max_concurrent`: requests
        in flight at once; `timeout_s`: longest wait for one request; `retry_s`: pause after a retryable failure
        when the server does not say how long."""
        if isinstance(judge, Judge):
            get_rubric(rubric)  # in-process: an unknown rubric fails now, in one line (a server knows its own)
        self.rubric, self.batch_size, self.max_concurrent = rubric, batch_size, max_concurrent
        self.timeout_s, self.retry_s = timeout_s, retry_s
        self._judge = judge if isinstance(judge, Judge) else None
        self._url = None if self._judge else str(judge).rstrip("/").removesuffix("/v1")
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._queue: deque[Item] = deque(maxlen=max_queue)
        self._in_flight: set[Item] = set()
        self._results: dict[Item, Label] = {}
        self._lock = threading.Lock()
        self._paused_until = 0.0
        self.counts = {"submitted": 0, "sent": 0, "received": 0, "unparseable": 0, "dropped": 0, "errors": 0,
                       "retries": 0}
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
        """Counters plus the current queue and in-flight sizes (for the learner's metrics)."""
        with self._lock:
            return {**self.counts, "queued": len(self._queue), "in_flight": len(self._in_flight)}

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

        http = httpx.AsyncClient(timeout=self.timeout_s) if self._url else None
        tasks: set[asyncio.Task[None]] = set()
        while not self._closing:
            pause = self._paused_until - time.monotonic()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=pause if pause > 0 else 0.5)
            self._wake.clear()
            while len(tasks) < self.max_concurrent and time.monotonic() >= self._paused_until:
                with self._lock:  # newest first
                    batch = [self._queue.pop() for _ in range(min(self.batch_size, len(self._queue)))]
                if not batch:
                    break
                task = asyncio.create_task(self._send(batch, http))
                tasks.add(task)
                task.add_done_callback(lambda t: (tasks.discard(t), self._wake.set()))
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if http is not None:
            await http.aclose()
        if self._judge is not None:
            await self._judge.aclose()

    async def _send(self, batch: list[Item], http: Any) -> None:
        self.counts["sent"] += len(batch)
        try:
            answers, retry_after = await (self._ask_server(batch, http) if http else self._ask_judge(batch))
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
            if retry:  # back to the old end of the queue, after a pause
                self.counts["retries"] += len(retry)
                room = self._queue.maxlen - len(self._queue)
                for item in retry[room:]:
                    self._in_flight.discard(item)
                    self.counts["dropped"] += 1
                self._queue.extendleft(reversed(retry[:room]))
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

    async def _ask_server(self, batch: list[Item], http: Any) -> tuple[list[Label | JudgeError], float | None]:
        import httpx

        try:
            resp = await http.post(f"{self._url}/v1/annotate", headers=self._headers,
                                   json={"rubric": self.rubric, "items": [list(i) if isinstance(i, tuple) else i
                                                                          for i in batch]})
        except httpx.HTTPError as err:
            return [UpstreamError(f"{self._url}: {type(err).__name__}: {err}")] * len(batch), None
        retry_after = float(resp.headers["retry-after"]) if resp.headers.get("retry-after", "").isdigit() else None
        try:
            body = resp.json()
        except ValueError:
            body = {}
        if "labels" not in body:  # the whole request failed (bad key, bad rubric, too large, server error)
            message = body.get("error", {}).get("message", resp.text[:200]) if isinstance(body, dict) else ""
            kind = UpstreamError if resp.status_code >= 500 or resp.status_code == 429 else JudgeError
            return [kind(f"{self._url}: HTTP {resp.status_code}: {message}")] * len(batch), retry_after
        errors = {e["index"]: e for e in body.get("errors", [])}
        out: list[Label | JudgeError] = []
        for i, lab in enumerate(body["labels"]):
            if lab is not None:
                out.append(Label(lab["value"], raw=lab.get("raw", ""), cached=lab.get("cached", False)))
            else:
                err = errors.get(i, {"message": "no label", "retryable": True})
                out.append((UpstreamError if err["retryable"] else JudgeError)(err["message"]))
        return out, retry_after
