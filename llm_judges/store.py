"""The persistent label store: SQLite in WAL mode, one row per (judge, rubric, item).

A label is committed (synchronous=FULL: fsynced) before the server acknowledges it to a client, so an
acknowledged label survives `kill -9` of the server, and a restarted server answers it from here.
Keys hash the back-end's identity, the rubric's fingerprint and the item, so changing the model or editing
a rubric never serves stale labels.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from pathlib import Path

from llm_judges.base import Item, Label


def item_key(judge_id: str, rubric_fingerprint: str, item: Item) -> str:
    """Stable key of one judgement."""
    text = json.dumps([judge_id, rubric_fingerprint, list(item) if isinstance(item, tuple | list) else item])
    return hashlib.sha256(text.encode()).hexdigest()


class LabelStore:
    """Thread-safe key -> Label store backed by one SQLite file (":memory:" for a throwaway one)."""

    def __init__(self, path: str | Path):
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.path = str(path)
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("CREATE TABLE IF NOT EXISTS labels (key TEXT PRIMARY KEY, rubric TEXT NOT NULL, "
                         "item TEXT NOT NULL, value REAL, raw TEXT NOT NULL, created REAL DEFAULT (strftime('%s','now')))")
        self._lock = threading.Lock()

    def get_many(self, keys: list[str]) -> dict[str, Label]:
        """The stored labels among `keys` (marked `cached=True`)."""
        out: dict[str, Label] = {}
        with self._lock:
            for i in range(0, len(keys), 500):  # stay under SQLite's bound-parameter limit
                part = keys[i:i + 500]
                rows = self._db.execute(f"SELECT key, value, raw FROM labels WHERE key IN ({','.join('?' * len(part))})",
                                        part).fetchall()
                out.update({k: Label(v, raw=r, cached=True) for k, v, r in rows})
        return out

    def put_many(self, rows: list[tuple[str, str, Item, Label]]) -> None:
        """Commit (key, rubric, item, label) rows in one durable transaction."""
        if not rows:
            return
        data = [(k, rubric, json.dumps(item), lab.value, lab.raw) for k, rubric, item, lab in rows]
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR REPLACE INTO labels (key, rubric, item, value, raw) VALUES (?, ?, ?, ?, ?)",
                                 data)
            self._db.execute("COMMIT")

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM labels").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()
