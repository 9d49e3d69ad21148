"""The annotation service behind `/v1/annotate`: label store, de-duplication and cross-request batching.

For each item: a stored label answers at once; an identical item already on its way upstream is joined (one
upstream call serves every request that asked); anything else is queued per rubric and sent with the items of
other requests in batches of at most `max_batch_size`, waiting at most `max_wait_ms` to fill. Labels are
committed to the store before any request sees them, so an acknowledged label is never lost.

A request waits at most its timeout; items still unlabelled then (back-end slow or down) come back as
retryable errors while their batch carries on, so asking again later joins it or hits the store.

One bad item never fails its batch-mates (who may be other clients' items): an item that is not valid text (a lone
surrogate cannot be encoded, tokenised or stored) is answered with its own error and never sent, and a batch that
fails for a non-retryable reason is split in halves and asked again until the failing item fails alone (see
`_isolate`). A retryable failure (the back-end down or slow) is nobody's item: the whole batch gets it.
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
    invalid: bool = False
    """The item itself is malformed (the client's fault, never sent upstream)."""


def text_problem(item: Item) -> str | None:
    """Why `item` is not valid text, or None: a lone surrogate (JSON allows `"\\ud800"`) has no UTF-8 encoding,
    so no back-end can tokenise it and the store cannot keep it."""
    for text in [item] if isinstance(item, str) else item:
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as err:
            return f"not valid Unicode text: lone surrogate {text[err.start]!r} at position {err.start}"
    return None


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
        invalid = {key: problem for key, item in zip(keys, items, strict=True) if (problem := text_problem(item))}
        futures: dict[str, asyncio.Future[Label]] = {}
        for key, item in zip(keys, items, strict=True):
            if key in stored or key in futures or key in invalid:
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
            elif key in invalid:
                out.append(ItemError(invalid[key], retryable=False, invalid=True))
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
        """Label `batch` (stored durably first), then hand each label or error to the requests waiting on it."""
        start = time.perf_counter()
        try:
            answers = await self._label(batch, rubric)
        finally:
            self.metrics.upstream_latency.observe(time.perf_counter() - start)
            self._slots.release()
        for (key, _), answer in zip(batch, answers, strict=True):
            future = self._pending.pop(key)
            if isinstance(answer, JudgeError):
                future.set_exception(answer)
            else:
                future.set_result(answer)

    async def _label(self, batch: list[tuple[str, Item]], rubric: str) -> list[Label | JudgeError]:
        """One label or error per item of `batch`; a non-retryable failure is pinned on its items (`_isolate`)."""
        try:
            return await self._ask(batch, rubric)
        except JudgeError as err:
            if isinstance(err, UpstreamError) or len(batch) == 1:
                return [err] * len(batch)
            return await self._isolate(batch, rubric, known_bad=False)

    async def _isolate(self, batch: list[tuple[str, Item]], rubric: str, known_bad: bool) -> list[Label | JudgeError]:
        """Ask each half of a failed batch again, recursing into the halves that fail, so a bad item fails alone.

        One bad item in n costs about 2*log2(n) extra calls. When both halves of the original batch fail too, the
        failure is the back-end's (a wrong model name, say), not an item's: splitting stops there (3 calls). Below
        the top (`known_bad`: the other half passed, so this one holds a bad item) both halves may hold one.
        """
        half = len(batch) // 2
        parts = [batch[:half], batch[half:]]
        answers: list[list[Label] | JudgeError] = []
        for part in parts:
            try:
                answers.append(await self._ask(part, rubric))
            except JudgeError as part_err:
                answers.append(part_err)
        if not known_bad and all(isinstance(a, JudgeError) for a in answers):
            return [a for part, a in zip(parts, answers, strict=True) for _ in part]  # type: ignore[misc]
        out: list[Label | JudgeError] = []
        for part, answer in zip(parts, answers, strict=True):
            if not isinstance(answer, JudgeError):
                out += answer
            elif isinstance(answer, UpstreamError) or len(part) == 1:
                out += [answer] * len(part)
            else:
                out += await self._isolate(part, rubric, known_bad=True)
        return out

    async def _ask(self, batch: list[tuple[str, Item]], rubric: str) -> list[Label]:
        """One upstream call for `batch`, its labels committed to the store; any failure is a `JudgeError`."""
        keys, items = [k for k, _ in batch], [i for _, i in batch]
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
            if isinstance(err, JudgeError):
                raise
            log.warning("annotation batch of %d failed: %s: %s", len(items), type(err).__name__, err)
            raise JudgeError(f"{type(err).__name__}: {err}") from err
        return labels

    async def aclose(self) -> None:
        """Stop the batchers (queued and in-flight items fail as retryable)."""
        for task in [*self._batchers.values(), *self._runs]:
            task.cancel()
        await asyncio.gather(*self._batchers.values(), *self._runs, return_exceptions=True)
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(UpstreamError("the server is shutting down"))
        self._pending.clear()
