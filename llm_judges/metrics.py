"""Prometheus metrics of the annotator server (one registry per server, so several can share a process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class JudgeMetrics:
    """What `/metrics` exposes: traffic, cache and de-dup savings, upstream health, queue depth, errors."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("credo_judge_requests", "HTTP requests by endpoint and status code.",
                                ["endpoint", "status"], registry=r)
        self.items = Counter("credo_judge_items", "Items asked for through /v1/annotate.", registry=r)
        self.cache_hits = Counter("credo_judge_cache_hits", "Items answered from the label store.", registry=r)
        self.dedup_joins = Counter("credo_judge_dedup_joins",
                                   "Items that joined an identical item already on its way upstream.", registry=r)
        self.upstream_calls = Counter("credo_judge_upstream_calls", "Batches sent to the back-end.", registry=r)
        self.upstream_items = Counter("credo_judge_upstream_items", "Items sent to the back-end.", registry=r)
        self.upstream_errors = Counter("credo_judge_upstream_errors", "Failed or timed-out back-end batches.",
                                       registry=r)
        self.upstream_latency = Histogram("credo_judge_upstream_latency_seconds", "Back-end latency per batch.",
                                          buckets=(.01, .03, .1, .3, 1, 3, 10, 30, 100, 300), registry=r)
        self.unparseable = Counter("credo_judge_unparseable", "Replies that gave no label (value None).", registry=r)
        self.item_errors = Counter("credo_judge_item_errors", "Items answered with a retryable error.", registry=r)
        self.queue_depth = Gauge("credo_judge_queue_depth", "Items waiting to be batched upstream.", registry=r)
