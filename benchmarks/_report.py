"""What the ratio benchmarks share: `best_of` timing, and the results table every one ends with (a rich table on the
terminal, then the same rows as Markdown, ready for benchmarks/RESULTS.md)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.table import Table

COLUMNS = ("measure", "baseline", "credo", "ratio")


def best_of(repeats: int, fn: Callable[[], Any]) -> float:
    """The fastest of `repeats` runs of `fn`, in seconds (the least disturbed by a shared machine)."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def print_ratio_table(title: str, rows: list[tuple[str, str, str, str]]) -> None:
    table = Table(title=title)
    for col in COLUMNS:
        table.add_column(col)
    for row in rows:
        table.add_row(*row)
    Console().print(table)
    print("| " + " | ".join(COLUMNS) + " |\n|" + "---|" * len(COLUMNS))
    for row in rows:
        print("| " + " | ".join(row) + " |")
