"""Runs a suite's cells: resumable, shardable, one or several at a time, with progress and an ETA.

Every cell is an ordinary run folder `runs/<suite>/<task>-<arm>-s<seed>/` trained by the ordinary `Trainer`:
- a finished run (its `summary.json` exists) is kept; an unfinished one resumes from its latest checkpoint
  (`credo train --resume` machinery), so the suite can be killed (`kill -9` included) and restarted any number of
  times and ends with the same set of runs;
- a run folder made with another config than the suite now asks for is an error (never silently mixed);
- each running cell holds an OS file lock (`<run>/.lock`, released by the kernel when its process dies), so two
  processes never train the same cell: overlapping shards or a second invocation skip it;
- `--workers N` runs N cells side by side in subprocesses (`python -m agents.bench.runner RUN_DIR PID MODULE`,
  one torch thread each, output in `<run>/bench.log`), which die with the parent (Linux PR_SET_PDEATHSIG);
- `--shard i/n` keeps cells i-1, i-1+n, i-1+2n... of the suite's order, so n processes (or machines sharing the
  folder) split it deterministically.
A cell that fails (a bad rubric name, a missing file, a crash) writes `<run>/bench_error.txt` and the suite
goes on; the failure is listed at the end and in the report, and the next invocation tries the cell again.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agents.bench.suite import (
    CELL_FILE,
    SUITE_FILE,
    Cell,
    SuiteConfig,
    cells,
    config_difference,
    resolved_yaml,
)
from agents.runs import CONFIG_FILE, RunDir, read_jsonl, write_atomic
from credo.config import ConfigError

ERROR_FILE = "bench_error.txt"
LOG_FILE = "bench.log"
LOCK_FILE = ".lock"
BUSY_EXIT = 75
"""Exit status of a cell subprocess that found its cell locked by another process."""


class CellBusy(RuntimeError):
    """Another process holds this cell's lock."""


def is_finished(path: Path) -> bool:
    from agents.trainer import SUMMARY_FILE

    return (Path(path) / SUMMARY_FILE).is_file()


def parse_shard(text: str | None) -> tuple[int, int]:
    """'2/4' -> (2, 4); 1-based, a one-line error otherwise."""
    if not text:
        return 1, 1
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise ConfigError(f"--shard {text!r}: expected i/n, e.g. 1/2") from None
    if not 1 <= i <= n:
        raise ConfigError(f"--shard {text!r}: i must be between 1 and n")
    return i, n


def prepare(cell: Cell) -> Path:
    """The cell's run folder, created (config.yaml, suite_cell.json) or checked against the cell's config; a cell
    whose config is invalid gets a folder with only suite_cell.json (its error is written next to it)."""
    root = Path(cell.root)
    path = root / cell.name
    if cell.config is None:
        path.mkdir(parents=True, exist_ok=True)
        RunDir(path).write_json(CELL_FILE, cell.label())
        return path
    wanted = cell.config.model_dump(mode="json")
    if (path / CONFIG_FILE).is_file():
        run = RunDir.open(path)
        diff = config_difference(run.config(), wanted)
        if diff and (run.latest_checkpoint() is not None or run.read_metrics()):
            raise ConfigError(f"{path}: made with another config than the suite's ({diff}); remove the folder "
                              "or give the suite another name")
        if diff:  # it never trained (e.g. failed at start-up): nothing to keep
            shutil.rmtree(path)
            RunDir.create(cell.name, cell.config, root)
    else:
        if path.exists():  # killed between mkdir and config.yaml: nothing to keep
            shutil.rmtree(path)
        RunDir.create(cell.name, cell.config, root)
    if not (path / CELL_FILE).is_file():
        RunDir(path).write_json(CELL_FILE, cell.label())
    return path


@contextlib.contextmanager
def cell_lock(path: Path) -> Iterator[None]:
    from filelock import FileLock, Timeout

    lock = FileLock(str(Path(path) / LOCK_FILE))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise CellBusy(f"{path} is being trained by another process") from None
    try:
        yield
    finally:
        lock.release()


def train_cell(path: Path) -> None:
    """Train (or resume) the run in `path` to its end, holding the cell's lock."""
    from agents.config import TrainConfig
    from agents.trainer import Trainer

    with cell_lock(path):
        (Path(path) / ERROR_FILE).unlink(missing_ok=True)
        run = RunDir.open(path)
        Trainer(TrainConfig.build(run.config(), source=str(path / CONFIG_FILE)), run).train()


def one_line(err: BaseException) -> str:
    """A failed cell in one line: a config or input error's own message, else the exception type and message."""
    lines = str(err.args[0] if isinstance(err, KeyError) and err.args else err).strip().splitlines()
    text = lines[0] if lines else ""
    return text if isinstance(err, (ValueError, FileNotFoundError)) else f"{type(err).__name__}: {text}"


def cell_seconds(path: Path) -> float | None:
    """How long a finished cell took: training wall time plus its held-out evaluations."""
    import json

    from agents.heldout import EVAL_FILE
    from agents.trainer import SUMMARY_FILE

    try:
        wall = float(json.loads((Path(path) / SUMMARY_FILE).read_text())["wall_time"])
    except (FileNotFoundError, KeyError, ValueError):
        return None
    return wall + sum(float(r.get("seconds") or 0.0) for r in read_jsonl(Path(path) / EVAL_FILE))


@dataclass
class Tracker:
    """Runs done / left and an ETA from the time cells of the same (task, arm), else task, else any, took."""

    total: int
    workers: int
    done: int = 0
    seconds: dict[tuple[str, str], list[float]] = field(default_factory=dict)

    def add(self, cell: Cell, seconds: float | None) -> None:
        self.done += 1
        if seconds is not None:
            self.seconds.setdefault((cell.task, cell.arm), []).append(seconds)

    def estimate(self, cell: Cell) -> float | None:
        for match in (lambda k: k == (cell.task, cell.arm), lambda k: k[0] == cell.task, lambda k: True):
            vals = [s for k, v in self.seconds.items() if match(k) for s in v]
            if vals:
                return sum(vals) / len(vals)
        return None

    def eta(self, left: list[Cell]) -> str:
        guesses = [self.estimate(c) for c in left]
        if not left:
            return "done"
        if any(g is None for g in guesses):
            return "ETA after the first run"
        return f"ETA {duration(sum(guesses) / max(1, min(self.workers, len(left))))}"


def duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


@dataclass
class SuiteRun:
    """What one invocation did."""

    cells: int = 0
    finished: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    busy: list[str] = field(default_factory=list)


def run_suite(suite: SuiteConfig, root: Path, *, seeds: int | None = None, shard: tuple[int, int] = (1, 1),
              workers: int = 1, tasks: list[str] | None = None, arms: list[str] | None = None,
              console: Any = None) -> SuiteRun:
    """Train every unfinished cell of this shard (of the `tasks` x `arms` named, default all); returns counts and
    failures (the report is built by the caller)."""
    from rich.console import Console

    console = console or Console()
    every = cells(suite, root, seeds, tasks, arms)
    i, n = shard
    mine = [c for k, c in enumerate(every) if k % n == i - 1]
    suite_dir = Path(root) / suite.name
    suite_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(suite_dir / SUITE_FILE, resolved_yaml(suite, seeds))
    paths = {c.name: prepare(c) for c in mine}
    tracker = Tracker(total=len(mine), workers=workers)
    todo = [c for c in mine if not is_finished(paths[c.name])]
    for c in mine:
        if c not in todo:
            tracker.add(c, cell_seconds(paths[c.name]))
    result = SuiteRun(cells=len(mine), finished=tracker.done)
    shard_txt = f", shard {i}/{n}" if n > 1 else ""
    console.print(f"suite {suite.name}{shard_txt}: {len(mine)} runs, {tracker.done} finished, {len(todo)} to run "
                  f"({workers} at a time) under {suite_dir}/")
    for c in [c for c in todo if c.problem()]:  # fails now, with its reason, instead of after the others
        result.failed[c.name] = c.problem()
        write_atomic(paths[c.name] / ERROR_FILE, result.failed[c.name] + "\n")
        console.print(f"[red]FAILED[/] {c.name}: {result.failed[c.name]}")
        todo.remove(c)
    tracker.done += len(result.failed)
    if not todo:
        return result
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    progress = Progress(TextColumn("[bold]runs"), BarColumn(bar_width=20), MofNCompleteColumn(),
                        TextColumn("{task.fields[eta]}"), console=console, disable=not console.is_terminal,
                        transient=True)
    with progress:
        bar = progress.add_task("runs", total=tracker.total, completed=tracker.done, eta=tracker.eta(todo))

        def finished(cell: Cell, started: float, error: str | None, left: list[Cell]) -> None:
            path = paths[cell.name]
            if error == "busy":
                result.busy.append(cell.name)
                console.print(f"skip {cell.name}: running in another process")
                return
            if error:
                result.failed[cell.name] = error
                write_atomic(path / ERROR_FILE, error + "\n")
                console.print(f"[red]FAILED[/] {cell.name}: {error}")
                tracker.done += 1
            else:
                result.finished += 1
                tracker.add(cell, time.time() - started)
            progress.update(bar, completed=tracker.done, eta=tracker.eta(left))
            if not error:
                console.print(f"[{tracker.done:>{len(str(tracker.total))}}/{tracker.total}] {cell.name} done in "
                              f"{duration(time.time() - started)}; {len(left)} left, {tracker.eta(left)}")

        if workers <= 1:
            _run_here(todo, paths, finished)
        else:
            _run_subprocesses(todo, paths, workers, finished)
    return result


def _run_here(todo: list[Cell], paths: dict[str, Path], finished: Any) -> None:
    for k, cell in enumerate(todo):
        started = time.time()
        error = None
        try:
            train_cell(paths[cell.name])
        except CellBusy:
            error = "busy"
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as err:  # a failed cell is reported, and the suite goes on
            error = one_line(err)
        finished(cell, started, error, todo[k + 1:])


def _run_subprocesses(todo: list[Cell], paths: dict[str, Path], workers: int, finished: Any) -> None:
    queue = list(todo)
    running: dict[str, tuple[subprocess.Popen, Cell, float, Any]] = {}
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    try:
        while queue or running:
            while queue and len(running) < workers:
                cell = queue.pop(0)
                path = paths[cell.name]
                log = open(path / LOG_FILE, "a")  # noqa: SIM115 (closed when the process ends)
                argv = [sys.executable, "-m", "agents.bench.runner", str(path), str(os.getpid()),
                        env_module(cell.config.env)]
                proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)
                running[cell.name] = (proc, cell, time.time(), log)
            time.sleep(0.5)
            for name, (proc, cell, started, log) in list(running.items()):
                code = proc.poll()
                if code is None:
                    continue
                log.close()
                del running[name]
                error = None
                if code == BUSY_EXIT:
                    error = "busy"
                elif code != 0:
                    path = paths[name]
                    error = ((path / ERROR_FILE).read_text().strip() if (path / ERROR_FILE).is_file()
                             else f"exit status {code} (see {path / LOG_FILE})")
                left = queue + [c for _, c, _, _ in running.values()]
                finished(cell, started, error, left)
    finally:
        for proc, _, _, log in running.values():  # Ctrl-C: the children stop with us (they resume next time)
            proc.send_signal(signal.SIGTERM)
            proc.wait()
            log.close()


def env_module(env_id: str) -> str:
    """The module defining the env's class, which a cell process imports first: an env registered by the user's
    own code (not by credo or a `credo.envs` plugin) then exists there too."""
    import gymnasium as gym

    import envs  # noqa: F401 (registers credo's envs)

    entry = gym.spec(env_id).entry_point
    return entry.split(":")[0] if isinstance(entry, str) else entry.__module__


def _die_with_parent(parent_pid: int) -> None:
    """Linux: the kernel kills this process when its parent dies (kill -9 of the suite takes its cells along)."""
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent_pid:  # the parent died before the call above
        sys.exit(1)


def main(argv: list[str]) -> int:
    """`python -m agents.bench.runner RUN_DIR PARENT_PID ENV_MODULE`: one cell, in its own process."""
    import importlib

    path, parent = Path(argv[0]), int(argv[1])
    _die_with_parent(parent)
    importlib.import_module(argv[2])
    try:
        train_cell(path)
    except CellBusy:
        return BUSY_EXIT
    except Exception as err:
        write_atomic(path / ERROR_FILE, one_line(err) + "\n")
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
