"""Progress of long commands (training, evaluation, env checks), the same way on a terminal and in a log.

On a terminal, progress is a rich bar redrawn in place, as people expect from rich and tqdm (rich's own test:
`console.is_interactive`). In a log file or a pipe a redrawn bar writes nothing until the end (rich) or control
characters (a forced terminal), so there the same information is printed as plain lines, the way tqdm and
rich-based tools log to files: at most one every `line_every_s` seconds (the first and the last always), and for a
training run a "still running" line every `heartbeat_s` while one long iteration runs (a NetHack iteration can
take minutes).

At any width the bar, the env-step count and the elapsed time stay visible: the metrics after them are cut to the
room left, dropping whole fields from the end, so fields are passed most important first. While the success
window is still filling, the first field says so instead of showing zeros.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Column

NAME_WIDTH = 24
"""Widest the run name is shown next to the bar (cut with an ellipsis; a fifth of a narrow terminal)."""
BAR_WIDTH = 20
LINE_EVERY_S = 10.0
"""In a file or a pipe, at most one progress line per this many seconds (the first and the last always)."""


def clock(seconds: float) -> str:
    """`0:03:07`, rich's elapsed-time format, for the plain lines."""
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def fit_fields(fields: Sequence[str], width: int, sep: str = "  ") -> str:
    """The fields that fit in `width` characters, joined by `sep`; whole fields are dropped from the end, and a
    first field longer than `width` is cut with an ellipsis."""
    out = ""
    for field in fields:
        joined = f"{out}{sep}{field}" if out else field
        if len(joined) > width:
            break
        out = joined
    if not out and fields and width > 1:
        out = fields[0][:width - 1] + "…"
    return out


class TrainProgress:
    """Progress of one run: `update(completed env steps, iteration, fields)` after each iteration."""

    def __init__(self, name: str, total: int | None, completed: int = 0, *, console: Console | None = None,
                 enabled: bool = True, line_every_s: float | None = None, heartbeat_s: float = 60.0) -> None:
        self.console = console or Console()
        self.name, self.total, self.completed, self.enabled = name, total, completed, enabled
        self.line_every_s = LINE_EVERY_S if line_every_s is None else line_every_s
        self.heartbeat_s = heartbeat_s
        self.iteration = 0
        self.live = enabled and self.console.is_interactive  # rich's own test: a terminal, not a dumb one
        self.name_width = min(NAME_WIDTH, max(12, self.console.width // 5))
        self._fields: list[str] = []
        self._start = self._last_line = time.monotonic()
        self._printed_iteration = -1
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._bar: Progress | None = None
        self._heartbeat: threading.Thread | None = None

    # -- the two ways of showing it --------------------------------------------------------------------------
    def __enter__(self) -> TrainProgress:
        if not self.enabled:
            return self
        if self.live:
            self._bar = Progress(
                TextColumn("[bold]{task.description}", table_column=Column(no_wrap=True, overflow="ellipsis",
                                                                           max_width=self.name_width)),
                BarColumn(bar_width=BAR_WIDTH), MofNCompleteColumn(), TimeElapsedColumn(),
                TextColumn("{task.fields[info]}", table_column=Column(no_wrap=True, overflow="ellipsis")),
                console=self.console)
            self._task = self._bar.add_task(self.name, total=self.total or None, completed=self.completed, info="")
            self._bar.start()
        else:
            self.console.print(f"{self.name}  {self._counts()}  starting", markup=False, highlight=False,
                               soft_wrap=True)
            self._heartbeat = threading.Thread(target=self._beat, daemon=True, name="credo-progress")
            self._heartbeat.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._heartbeat is not None:
            self._heartbeat.join(timeout=1)
        if self._bar is not None:
            self._bar.stop()
        elif self.enabled and self._printed_iteration != self.iteration:
            self._line()  # the last iteration is always shown

    def update(self, completed: int, iteration: int, fields: Sequence[str]) -> None:
        """The state after an iteration; `fields` are short "name value" strings, most important first."""
        self.completed, self.iteration, self._fields = completed, iteration, list(fields)
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.update(self._task, completed=completed, info=fit_fields(self._fields, self._info_width()))
        elif self._printed_iteration < 0 or time.monotonic() - self._last_line >= self.line_every_s:
            self._line()

    def _info_width(self) -> int:
        """Columns left for the fields once the name, bar, step count and elapsed time have theirs."""
        steps = len(f"{self.completed}/{self.total or '?'}") + 2
        taken = min(len(self.name), self.name_width) + BAR_WIDTH + steps + len("0:00:00") + 4  # 4 column gaps
        return max(0, self.console.width - taken)

    def _counts(self) -> str:
        if self.total:
            return f"{self.completed:,}/{self.total:,} env steps ({100 * self.completed / self.total:.0f}%)"
        return f"{self.completed:,} env steps"

    def _line(self) -> None:
        with self._lock:
            now = time.monotonic()
            self.console.print(f"{self.name}  {self._counts()}  {clock(now - self._start)}  "
                               + "  ".join(self._fields), markup=False, highlight=False, soft_wrap=True)
            self._last_line, self._printed_iteration = now, self.iteration

    def _beat(self) -> None:
        """Plain-line mode: say the run is alive when one iteration outlasts `heartbeat_s`."""
        while not self._stop.wait(min(self.heartbeat_s, 5.0)):
            with self._lock:
                now = time.monotonic()
                if now - self._last_line < self.heartbeat_s:
                    continue
                self.console.print(f"{self.name}  iteration {self.iteration + 1} running  {self._counts()}  "
                                   f"{clock(now - self._start)}", markup=False, highlight=False, soft_wrap=True)
                self._last_line = now


@contextmanager
def counting(label: str, total: int, *, console: Console | None = None, enabled: bool = True,
             line_every_s: float | None = None) -> Iterator[Callable[[Any], None]]:
    """Progress over `total` things (eval episodes, env ids): yields the callback to call once per finished thing
    (a string argument is shown as the last one done). A transient bar with the time left on a terminal; in a file,
    a line at the start, one every `line_every_s` seconds with the estimate, and one at the end."""
    console = console or Console()
    if not enabled:
        yield lambda _: None
        return
    if console.is_interactive:
        with Progress(TextColumn(label), BarColumn(bar_width=BAR_WIDTH), MofNCompleteColumn(), TimeElapsedColumn(),
                      TextColumn("~"), TimeRemainingColumn(),
                      TextColumn("{task.fields[last]}", table_column=Column(no_wrap=True, overflow="ellipsis")),
                      console=console, transient=True) as bar:
            task = bar.add_task(label, total=total, last="")
            yield lambda item: bar.update(task, advance=1, last=item if isinstance(item, str) else "")
        return
    every = LINE_EVERY_S if line_every_s is None else line_every_s
    start = last_line = time.monotonic()
    done = 0

    def say(text: str) -> None:
        console.print(text, markup=False, highlight=False, soft_wrap=True)

    def tick(item: Any) -> None:
        nonlocal done, last_line
        done += 1
        now = time.monotonic()
        if now - last_line >= every and done < total:
            left = (now - start) / done * (total - done)
            say(f"{label}: {done}/{total}  {clock(now - start)}  ~{clock(left)} left"
                + (f"  (last: {item})" if isinstance(item, str) else ""))
            last_line = now

    say(f"{label}: 0/{total}")
    yield tick
    say(f"{label}: {done}/{total} done in {clock(time.monotonic() - start)}")
