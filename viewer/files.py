"""Bounded reads of the files a run writes: the last rows of a JSONL file, and caches that re-read only what changed.

Why: a run with 1,000 iterations has a metrics file of megabytes and episode files of hundreds of megabytes in
all; the runs table must answer by reading a few kilobytes per run, and a page that polls a live run must not
re-parse what it already parsed. Every reader skips lines that do not parse (a `kill -9` can cut the last line)
and counts them, so a corrupt line shows up as a number in the API, never as an error.
"""

from __future__ import annotations

import json
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TAIL_BLOCK = 16 * 1024
"""Bytes read per step backwards from the end of a file by `tail_rows`."""
TAIL_MAX = 1024 * 1024
"""`tail_rows` gives up looking for more rows after this many bytes from the end (a pathological line)."""


def parse_row(line: bytes | str) -> dict[str, Any] | None:
    """One JSONL line as a dict, or None (blank, cut or corrupt, or not an object)."""
    line = line.strip()
    if not line:
        return None
    try:
        row = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return row if isinstance(row, dict) else None


def tail_rows(path: Path, n: int) -> list[dict[str, Any]]:
    """The last `n` parseable rows of a JSONL file, oldest first, reading backwards from its end.

    Reads O(n × row size) bytes, however long the file; [] when the file does not exist.
    """
    if not path.is_file():
        return []
    with open(path, "rb") as fh:
        end = pos = fh.seek(0, os.SEEK_END)
        data = b""
        rows: list[dict[str, Any]] = []
        while pos > 0 and end - pos < TAIL_MAX and len(rows) < n:
            step = min(TAIL_BLOCK, pos)
            pos -= step
            fh.seek(pos)
            data = fh.read(step) + data
            lines = data.split(b"\n")[1 if pos > 0 else 0:]  # the first piece may be part of a longer line
            rows = []
            for line in reversed(lines):
                row = parse_row(line)
                if row is not None:
                    rows.append(row)
                    if len(rows) == n:
                        break
        return rows[::-1]


def read_json(path: Path) -> tuple[Any, str | None]:
    """A small JSON file as (data, None), or (None, a one-line reason) when it is missing or does not parse."""
    try:
        return json.loads(path.read_text()), None
    except FileNotFoundError:
        return None, f"{path.name}: missing"
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        return None, f"{path.name}: not valid JSON ({err})"


def _signature(path: Path) -> tuple[int, int, int] | None:
    """(size, mtime_ns, inode) of a file, or None when it does not exist: what tells a cache the file changed
    (a new inode: the file was replaced, e.g. by an atomic rewrite)."""
    try:
        st = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return None
    return st.st_size, st.st_mtime_ns, st.st_ino


@dataclass
class _Rows:
    offset: int = 0
    rows: list[dict[str, Any]] = field(default_factory=list)
    skipped: int = 0
    signature: tuple[int, int, int] | None = None


class AppendedRows:
    """Every row of append-only JSONL files (metrics, ONI labels), re-reading only the bytes added since last time.

    A file that shrank or was replaced (`credo train --resume` rewrites metrics.jsonl atomically without the rows
    after the checkpoint) is read again from the start. Thread-safe: the server answers requests from a thread pool.
    """

    def __init__(self, max_files: int = 256) -> None:
        self._files: OrderedDict[Path, _Rows] = OrderedDict()
        self._lock = threading.Lock()
        self.max_files = max_files

    def read(self, path: Path) -> tuple[list[dict[str, Any]], int]:
        """(rows, lines skipped as corrupt) of `path`; ([], 0) when it does not exist."""
        sig = _signature(path)
        with self._lock:
            entry = self._files.pop(path, None) or _Rows()
            if sig is None:
                return [], 0
            if entry.signature != sig:
                if sig[0] < entry.offset or (entry.signature is not None and sig[2] != entry.signature[2]):
                    entry = _Rows()  # rewritten (`credo train --resume` drops the rows after its checkpoint)
                self._extend(path, entry)
                entry.signature = sig
            self._files[path] = entry
            while len(self._files) > self.max_files:
                self._files.popitem(last=False)
            return entry.rows, entry.skipped

    @staticmethod
    def _extend(path: Path, entry: _Rows) -> None:
        with open(path, "rb") as fh:
            fh.seek(entry.offset)
            data = fh.read()
        end = data.rfind(b"\n") + 1  # a last line without its newline may still be being written: wait for it
        for line in data[:end].split(b"\n"):
            if not line.strip():
                continue
            row = parse_row(line)
            if row is None:
                entry.skipped += 1
            else:
                entry.rows.append(row)
        entry.offset += end


class Memo:
    """A small LRU of values computed from one file, recomputed when the file's size or mtime changes."""

    def __init__(self, max_items: int = 32) -> None:
        self._items: OrderedDict[Path, tuple[tuple[int, int, int], Any]] = OrderedDict()
        self._lock = threading.Lock()
        self.max_items = max_items

    def get(self, path: Path, compute: Any) -> Any:
        """`compute(path)`, or the value it gave while the file is unchanged; FileNotFoundError when missing."""
        sig = _signature(path)
        if sig is None:
            raise FileNotFoundError(path)
        with self._lock:
            hit = self._items.get(path)
            if hit is not None and hit[0] == sig:
                self._items.move_to_end(path)
                return hit[1]
        value = compute(path)
        with self._lock:
            self._items[path] = (sig, value)
            while len(self._items) > self.max_items:
                self._items.popitem(last=False)
        return value
