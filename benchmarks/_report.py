"""The results table every ratio benchmark ends with: a rich table on the terminal, then the same rows as Markdown
(ready for benchmarks/RESULTS.md)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

COLUMNS = ("measure", "baseline", "credo", "ratio")


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
