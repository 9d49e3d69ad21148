"""Finding runs under a runs root, telling live from finished from stopped, and one summary row per run.

A run is a folder holding `config.yaml` (`agents.runs.RunDir`), directly under the root (`runs/<name>/`) or one
level down in a suite folder (`runs/<suite>/<name>/`, as `credo bench credit` writes them, each with a
`suite_cell.json`). A run's id is its path relative to the root: `<name>` or `<suite>/<name>`.

The summary row reads O(1) bytes per run whatever its length: the config, the last two rows of metrics.jsonl
(read backwards from the end), `suite_cell.json`, and the modification times of the folder's entries. Episode
files are never opened here.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from agents.runs import CONFIG_FILE, METRICS_FILE, RunDir
from viewer.files import read_json, tail_rows

SUMMARY_FILE = "summary.json"
"""Written by `credo train` at the end of a run with an evaluation (eval_episodes > 0)."""
SUITE_CELL_FILE = "suite_cell.json"
"""In a suite run's folder: {"suite", "task", "arm", "seed"} (`credo bench credit`)."""
SUITE_FILE = "suite.yaml"
"""In a suite folder: the suite's definition (`credo bench credit`)."""
LIVE_MIN_SECONDS = 300.0
"""A run with no summary is live while something in its folder changed within max(this, 3 iterations)."""


class NotFound(LookupError):
    """A run, suite, iteration, episode or file that is not there (the API answers 404 with the message)."""


@dataclass(frozen=True)
class RunRef:
    """Where one run lives: its id (`name` or `suite/name`), folder and suite (None outside a suite)."""

    id: str
    path: Path
    suite: str | None = None


def _visible_dirs(folder: Path) -> list[os.DirEntry[str]]:
    """Sub-folders, without hidden or temp ones (`.tmp-*` from atomic writes)."""
    try:
        with os.scandir(folder) as it:
            return sorted((e for e in it if e.is_dir() and not e.name.startswith((".", "_"))), key=lambda e: e.name)
    except (FileNotFoundError, NotADirectoryError):
        return []


def _is_run(folder: str | Path) -> bool:
    return os.path.isfile(os.path.join(folder, CONFIG_FILE))


def find_runs(root: Path) -> list[RunRef]:
    """Every run under `root`: its direct sub-folders that are runs, and the runs one level inside the others."""
    out: list[RunRef] = []
    for entry in _visible_dirs(root):
        if _is_run(entry.path):
            out.append(RunRef(entry.name, Path(entry.path)))
            continue
        out += [RunRef(f"{entry.name}/{sub.name}", Path(sub.path), entry.name)
                for sub in _visible_dirs(Path(entry.path)) if _is_run(sub.path)]
    return out


def find_suites(root: Path) -> list[str]:
    """Folders under `root` that are suites: they hold `suite.yaml` or runs of their own."""
    return [e.name for e in _visible_dirs(root) if not _is_run(e.path) and (
        os.path.isfile(os.path.join(e.path, SUITE_FILE)) or any(_is_run(s.path) for s in _visible_dirs(Path(e.path))))]


def _safe_parts(text: str, what: str, most: int) -> list[str]:
    parts = text.split("/")
    if not text or len(parts) > most or any(p in ("", ".", "..") or p.startswith(".") or "\\" in p for p in parts):
        raise NotFound(f"{what} {text!r}: not a {what} id (expected {'<name> or <suite>/<name>' if most > 1 else 'a folder name'})")
    return parts


def resolve_run(root: Path, run_id: str) -> RunRef:
    """The run with id `run_id`, or NotFound with a one-line message (ids cannot leave the root)."""
    parts = _safe_parts(run_id, "run", 2)
    path = root.joinpath(*parts)
    if not _is_run(path):
        raise NotFound(f"run {run_id!r}: no such run under {root} (no {'/'.join(parts)}/{CONFIG_FILE})")
    return RunRef(run_id, path, parts[0] if len(parts) == 2 else None)


def resolve_suite(root: Path, suite: str) -> Path:
    """A suite's folder, or NotFound."""
    (name,) = _safe_parts(suite, "suite", 1)
    if name not in find_suites(root):
        raise NotFound(f"suite {suite!r}: no such suite under {root}")
    return root / name


def read_config(path: Path) -> tuple[dict[str, Any], str | None]:
    """(the run's resolved config, None), or ({}, a one-line reason) when config.yaml does not parse."""
    try:
        return RunDir(path).config(), None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        return {}, f"{CONFIG_FILE}: unreadable ({str(err).splitlines()[0] if str(err) else type(err).__name__})"


def last_activity(path: Path) -> float:
    """Newest modification time among the run folder and its entries (metrics, events, episodes/, checkpoints/)."""
    newest = 0.0
    try:
        newest = path.stat().st_mtime
        with os.scandir(path) as it:
            for e in it:
                try:
                    newest = max(newest, e.stat().st_mtime)
                except FileNotFoundError:  # a temp file renamed away meanwhile
                    continue
    except FileNotFoundError:
        pass
    return newest


def run_status(path: Path, config: dict[str, Any], tail: list[dict[str, Any]], idle: float) -> tuple[str, str]:
    """(status, why): 'finished', 'live' or 'stopped', from the files alone (see `viewer.app`'s API notes).

    `tail`: the last two metrics rows; `idle`: seconds since anything in the run folder was written.
    """
    if (path / SUMMARY_FILE).is_file():
        return "finished", f"{SUMMARY_FILE} written"
    last = tail[-1] if tail else {}
    steps, total = last.get("env_steps"), config.get("total_env_steps")
    if isinstance(steps, (int, float)) and isinstance(total, (int, float)) and steps >= total:
        return "finished", f"env_steps {steps:.0f} >= total_env_steps {total}"
    wall, minutes = last.get("wall_time"), config.get("max_minutes")
    if isinstance(wall, (int, float)) and isinstance(minutes, (int, float)) and wall >= 60 * minutes:
        return "finished", f"wall_time {wall:.0f} s >= max_minutes {minutes}"
    window = LIVE_MIN_SECONDS
    times = [r["time"] for r in tail if isinstance(r.get("time"), (int, float))]
    if len(times) == 2:
        window = max(window, 3 * (times[1] - times[0]))
    if idle <= window:
        return "live", f"written {idle:.0f} s ago"
    return "stopped", f"nothing written for {idle / 60:.0f} min and no stop criterion reached (resume: credo train --resume)"


def _number(row: dict[str, Any], key: str) -> float | None:
    value = row.get(key)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def summarize(ref: RunRef, now: float | None = None) -> dict[str, Any]:
    """One row of the runs table; reads O(1) bytes of the run whatever its number of iterations and episodes."""
    now = time.time() if now is None else now
    config, error = read_config(ref.path)
    tail = tail_rows(ref.path / METRICS_FILE, 2)
    last = tail[-1] if tail else {}
    updated = last_activity(ref.path)
    status, why = run_status(ref.path, config, tail, now - updated)
    cell, _ = read_json(ref.path / SUITE_CELL_FILE) if ref.suite else (None, None)
    policy = config.get("policy") if isinstance(config.get("policy"), dict) else {}
    iteration = last.get("iteration")
    try:
        started = (ref.path / CONFIG_FILE).stat().st_mtime
    except FileNotFoundError:
        started = None
    return {
        "id": ref.id, "name": ref.path.name, "suite": ref.suite, "cell": cell if isinstance(cell, dict) else None,
        "env": str(config.get("env") or "").removeprefix("credo/"), "credit": str(config.get("credit") or ""),
        "model": str(policy.get("model") or ""), "advantage": str(config.get("advantage") or ""),
        "status": status, "status_reason": why,
        "iterations": int(iteration) if isinstance(iteration, (int, float)) else 0,
        "env_steps": _number(last, "env_steps"), "success": _number(last, "success"),
        "return": _number(last, "return"), "episode_length": _number(last, "episode_length"),
        "wall_time": _number(last, "wall_time"), "started": started, "updated": updated,
        "error": error,
    }
