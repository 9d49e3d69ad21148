"""Routing items over several judge replicas by the hash of their key (consistent hashing).

Each `credo judge serve` replica has its own label store, so a round-robin balancer would split one item's
history over stores and defeat de-duplication. Instead every item goes to the replica its key hashes to on a
ring of virtual nodes: the same item always reaches the same replica (and its stored label), and when a replica
is down its items move to the next replica on the ring while the others' items stay where they were. A replica
that comes back takes its items back.
"""

from __future__ import annotations

import bisect
import hashlib
import threading

from llm_judges.base import Item
from llm_judges.store import item_key

VNODES = 64
"""Virtual nodes per replica: enough for an even split of keys over a handful of replicas."""


def _point(text: str) -> int:
    return int(hashlib.sha256(text.encode()).hexdigest()[:16], 16)


def route_key(rubric: str, item: Item) -> int:
    """Where an item sits on the ring: its label-store key under this rubric, as a number."""
    return int(item_key("route", rubric, item)[:16], 16)


class HashRing:
    """Replica URLs on a consistent-hash ring; `route` skips replicas marked down (thread-safe)."""

    def __init__(self, urls: list[str], vnodes: int = VNODES) -> None:
        if not urls:
            raise ValueError("a judge ring needs at least one replica URL")
        if len(set(urls)) != len(urls):
            raise ValueError(f"judge replica URLs repeat: {urls}")
        self.urls = list(urls)
        self._points = sorted((_point(f"{url}#{v}"), url) for url in urls for v in range(vnodes))
        self._keys = [p for p, _ in self._points]
        self._down: set[str] = set()
        self._lock = threading.Lock()

    def route(self, key: int) -> str | None:
        """The first healthy replica clockwise from `key`; None when every replica is down."""
        with self._lock:
            if len(self._down) == len(self.urls):
                return None
            start = bisect.bisect(self._keys, key)
            for k in range(len(self._points)):
                url = self._points[(start + k) % len(self._points)][1]
                if url not in self._down:
                    return url
        return None

    def mark_down(self, url: str) -> None:
        with self._lock:
            self._down.add(url)

    def mark_up(self, url: str) -> None:
        with self._lock:
            self._down.discard(url)

    @property
    def down(self) -> list[str]:
        with self._lock:
            return sorted(self._down)
