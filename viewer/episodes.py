"""Sampled episodes of a run (`runs/<name>/episodes/iter_<n>.jsonl`), paged without loading a run's whole history.

The iterations that logged episodes come from the file names alone. One iteration's file is indexed once (byte
offset of each line plus a short summary of each episode) and the index is kept while the file is unchanged, so
a page of episode summaries or one whole episode costs one seek after the first visit.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agents.runs import EPISODES_DIR
from viewer.catalog import NotFound
from viewer.files import Memo, parse_row

_FILE_RE = re.compile(r"^iter_(\d+)\.jsonl$")


def iterations(run_path: Path) -> list[int]:
    """Iterations with an episodes file, ascending (temp files of an atomic write are not listed)."""
    try:
        with os.scandir(run_path / EPISODES_DIR) as it:
            return sorted(int(m.group(1)) for e in it if (m := _FILE_RE.match(e.name)))
    except (FileNotFoundError, NotADirectoryError):
        return []


@dataclass(frozen=True)
class _Index:
    spans: list[tuple[int, int]]
    """(byte offset, byte length) of each episode's line."""
    summaries: list[dict[str, Any]]
    skipped: int
    """Lines that did not parse as an episode."""


def _summary(index: int, ep: dict[str, Any]) -> dict[str, Any]:
    steps = ep.get("steps") if isinstance(ep.get("steps"), list) else []
    modules: dict[str, None] = {}
    for s in steps:
        if isinstance(s, dict) and isinstance(s.get("step_rewards"), dict):
            modules.update(dict.fromkeys(s["step_rewards"]))
    return {"index": index, "episode_id": ep.get("episode_id"), "group_id": ep.get("group_id"),
            "seed": ep.get("seed"), "length": ep.get("length", len(steps)), "return": ep.get("return"),
            "success": ep.get("success"), "score": ep.get("score"), "truncated": ep.get("truncated"),
            "modules": list(modules)}


def _index(path: Path) -> _Index:
    spans, summaries, skipped, offset = [], [], 0, 0
    with open(path, "rb") as fh:
        for line in fh:
            ep = parse_row(line)
            if ep is not None and isinstance(ep.get("steps"), list):
                summaries.append(_summary(len(spans), ep))
                spans.append((offset, len(line)))
            elif line.strip():
                skipped += 1
            offset += len(line)
    return _Index(spans, summaries, skipped)


class Episodes:
    """Paged access to the episodes of the runs under one root (indexes shared by every request)."""

    def __init__(self, max_files: int = 32) -> None:
        self._memo = Memo(max_files)

    def _file(self, run_path: Path, iteration: int | None) -> tuple[int, Path, _Index]:
        its = iterations(run_path)
        if not its:
            raise NotFound(f"run {run_path.name!r}: no episodes logged yet ({EPISODES_DIR}/ is empty)")
        if iteration is None:
            iteration = its[-1]
        elif iteration not in its:
            raise NotFound(f"run {run_path.name!r}: no episodes at iteration {iteration} "
                           f"(logged: {its[0]}..{its[-1]}, {len(its)} iterations)")
        path = run_path / EPISODES_DIR / f"iter_{iteration}.jsonl"
        try:
            return iteration, path, self._memo.get(path, _index)
        except FileNotFoundError:
            raise NotFound(f"run {run_path.name!r}: iteration {iteration}'s episodes were removed") from None

    def page(self, run_path: Path, iteration: int | None, offset: int, limit: int) -> dict[str, Any]:
        """Summaries of episodes [offset, offset + limit) of an iteration (default: the newest)."""
        iteration, _, idx = self._file(run_path, iteration)
        return {"iteration": iteration, "total": len(idx.summaries), "offset": offset,
                "episodes": idx.summaries[offset:offset + limit], "skipped_lines": idx.skipped}

    def episode(self, run_path: Path, iteration: int | None, index: int) -> dict[str, Any]:
        """One whole episode as written (`Episode.to_dict()`), plus `index`, `iteration` and `modules`."""
        iteration, path, idx = self._file(run_path, iteration)
        if not 0 <= index < len(idx.spans):
            raise NotFound(f"run {run_path.name!r}: iteration {iteration} has {len(idx.spans)} episodes, "
                           f"no episode {index}")
        start, length = idx.spans[index]
        with open(path, "rb") as fh:
            fh.seek(start)
            ep = parse_row(fh.read(length))
        if ep is None:  # replaced between indexing and reading: the next request re-indexes
            raise NotFound(f"run {run_path.name!r}: iteration {iteration}'s episodes changed while reading; retry")
        return {**ep, "index": index, "iteration": iteration, "modules": idx.summaries[index]["modules"]}
