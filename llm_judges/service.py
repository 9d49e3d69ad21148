"""The annotation service behind `/v1/annotate`: label store, de-duplication and cross-request batching.

For each item: a stored label answers at once; an identical item already on its way upstream is joined (one
upstream call serves every request that asked); anything else is queued per rubric and sent with the items of
other requests in batches of at most `max_batch_size`, waiting at most `max_wait_ms` to fill. Labels are
committed to the store before any request sees them, so an acknowledged label is never lost.

A request waits at most its timeout; items still unlabelled then (back-end slow or down) come back as
retryable errors while their batch carries on, so asking again later joins it or hits the store.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from llm_judges.base import Item, Judge, JudgeError, Label, UpstreamError
from llm_judges.config import ServeConfig
from llm_judges.metrics import JudgeMetrics
from llm_judges.rubrics import get_rubric
from llm_judges.store import LabelStore, item_key

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ItemError:
    """Why an item has no label in this answer."""

    message: str
    retryable: bool


class AnnotationService:
    """De-duplicating, batching, persistent front of one `Judge` (used by the server, usable in-process)."""

    def __init__(self, judge: Judge, store: LabelStore, config: ServeConfig, metrics: JudgeMetrics,
                 judge_id: str):
        self.judge, self.store, self.config, self.metrics, self.judge_id = judge, store, config, metrics, judge_id
        self._pending: dict[str, asyncio.Future[Label]] = {}
        self._queued: dict[str, list[tuple[str, Item]]] = {}
        self._ready: dict[str, asyncio.Event] = {}
        self._batchers: dict[str, asyncio.Task[None]] = {}
        self._runs: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(config.max_concurrent_batches)

    @property
    def queue_depth(self) -> int:
        return sum(len(q) for q in self._queued.values())

    async def annotate(self, items: list[Item], rubric: str, timeout: float | None = None) -> list[Label | ItemError]:
        """One answer per item: a `Label`, or an `ItemError` (retryable when the back-end was slow or down).

        Raises KeyError for an unknown rubric and ValueError for an item that does not fit it.
        """
        spec = get_rubric(rubric)
        for item in items:
            spec.check_item(item)
        items = [tuple(i) if isinstance(i, list) else i for i in items]
        fingerprint = spec.fingerprint
        keys = [item_key(self.judge_id, fingerprint, i) for i in items]
        self.metrics.items.inc(len(items))
        stored = await asyncio.to_thread(self.store.get_many, list(set(keys)))
        self.metrics.cache_hits.inc(sum(k in stored for k in keys))
        futures: dict[str, asyncio.Future[Label]] = {}
        for key, item in zip(keys, items, strict=True):
            if key in stored or key in futures:
                continue
            if key in self._pending:
                self.metrics.dedup_joins.inc()
            else:
                self._enqueue(key, item, rubric)
            futures[key] = self._pending[key]
        if futures:  # on timeout (or a client gone) the batches carry on: wait() never cancels what it waits for
            await asyncio.wait(set(futures.values()), timeout=timeout or self.config.request_timeout_s)
        out: list[Label | ItemError] = []
        for key in keys:
            if key in stored:
                out.append(stored[key])
            elif not futures[key].done():
                out.append(ItemError(f"not labelled within {timeout or self.config.request_timeout_s:g}s; the back-end "
                                     "is still working on it: ask again later", retryable=True))
            elif (err := futures[key].exception()) is not None:
                out.append(ItemError(str(err), retryable=isinstance(err, UpstreamError)))
            else:
                out.append(futures[key].result())
        self.metrics.item_errors.inc(sum(isinstance(o, ItemError) for o in out))
        return out

    def _enqueue(self, key: str, item: Item, rubric: str) -> None:
        fut: asyncio.Future[Label] = asyncio.get_running_loop().create_future()
        fut.add_done_callback(lambda f: f.cancelled() or f.exception())  # an unawaited failure is not an error
        self._pending[key] = fut
        self._queued.setdefault(rubric, []).append((key, item))
        self._ready.setdefault(rubric, asyncio.Event()).set()
        self.metrics.queue_depth.inc()
        if rubric not in self._batchers:
            self._batchers[rubric] = asyncio.create_task(self._batcher(rubric))

    async def _batcher(self, rubric: str) -> None:
        """Forever: wait for items, let a batch fill for `max_wait_ms`, take a slot, send the batch."""
        queue, ready = self._queued[rubric], self._ready[rubric]
        while True:
            await ready.wait()
            if len(queue) < self.config.max_batch_size and self.config.max_wait_ms > 0:
                await asyncio.sleep(self.config.max_wait_ms / 1000)
            await self._slots.acquire()
            batch = queue[:self.config.max_batch_size]
            del queue[:self.config.max_batch_size]
            if not queue:
                ready.clear()
            self.metrics.queue_depth.dec(len(batch))
            task = asyncio.create_task(self._send(batch, rubric))
            self._runs.add(task)
            task.add_done_callback(self._runs.discard)

    async def _send(self, batch: list[tuple[str, Item]], rubric: str) -> None:
        """One upstream call for `batch`; store the labels durably, then hand them to the waiting requests."""
        keys, items = [k for k, _ in batch], [i for _, i in batch]
        start = time.perf_counter()
        self.metrics.upstream_calls.inc()
        self.metrics.upstream_items.inc(len(items))
        try:
            try:
                labels = await asyncio.wait_for(self.judge.annotate(items, rubric), self.config.upstream_timeout_s)
            except TimeoutError:
                raise UpstreamError(f"the back-end did not answer within {self.config.upstream_timeout_s:g}s") from None
            if len(labels) != len(items):
                raise JudgeError(f"the back-end returned {len(labels)} labels for {len(items)} items")
            self.metrics.unparseable.inc(sum(lab.value is None for lab in labels))
            keep = [(k, rubric, i, lab) for k, i, lab in zip(keys, items, labels, strict=True)
                    if lab.value is not None or self.config.cache_unparseable]
            await asyncio.to_thread(self.store.put_many, keep)
        except Exception as err:
            self.metrics.upstream_errors.inc()
            if not isinstance(err, JudgeError):
                log.exception("annotation batch failed")
                err = JudgeError(f"{type(err).__name__}: {err}")
            for key in keys:
                self._pending.pop(key).set_exception(err)
        else:
            for key, lab in zip(keys, labels, strict=True):
                self._pending.pop(key).set_result(lab)
        finally:
            self.metrics.upstream_latency.observe(time.perf_counter() - start)
            self._slots.release()

    async def aclose(self) -> None:
        """Stop the batchers (queued and in-flight items fail as retryable)."""
        for task in [*self._batchers.values(), *self._runs]:
            task.cancel()
        await asyncio.gather(*self._batchers.values(), *self._runs, return_exceptions=True)
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(UpstreamError("the server is shutting down"))
        self._pending.clear()
