"""Tables that stay readable at any width, on a terminal or in a pipe (rich's default width there is 80).

Left to itself, rich fits a wide table into the console by folding or cutting cells: run names and env ids (what
people copy into the next command) get broken, and with many columns every cell folds into a column of single
letters (`COLUMNS=80 credo envs list` was 6,695 lines). One rule for every credo table:

- key columns (ids, names, paths) are never cut, folded or wrapped, nor is the title (it may hold a run name);
- when the table is wider than the console, the other cells are cut with an ellipsis (prose columns wrap at
  their words instead), down to each column's `min_width`; when that is not enough, optional columns are dropped, least important first (a line under the
  table names them);
- when the key columns alone do not fit, each row becomes a block: its first key on a line of its own, then one
  `column: value` line per other column (a long value wraps at its words).
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

from rich.console import Console
from rich.table import Table
from rich.text import Text

BORDER = 3
"""Characters a column adds in rich's default box: a rule and one space of padding each side."""
MIN_CUT = 6
"""A cut column keeps at least this many characters (its ellipsis included)."""


@dataclass(frozen=True)
class Col:
    """One column: `key` ones are never cut; others are cut to no less than `min_width` (`wrap`: wrapped at their
    words instead, for prose); `drop` > 0 marks an optional one (higher: dropped first)."""

    name: str
    key: bool = False
    drop: int = 0
    min_width: int = MIN_CUT
    wrap: bool = False
    justify: str = "left"


def _width(col: Col, rows: Sequence[Sequence[str]], k: int) -> int:
    return max([len(col.name), *(len(r[k]) for r in rows)])


def fit(cols: Sequence[Col], rows: Sequence[Sequence[str]], width: int) -> list[tuple[int, int]] | None:
    """(column index, width) of the columns to show at console `width`, optional ones dropped and the others cut
    as needed; None when even the key columns and the columns that cannot be dropped do not fit (print blocks)."""
    shown = list(range(len(cols)))
    natural = {k: _width(c, rows, k) for k, c in enumerate(cols)}
    floor = {k: natural[k] if c.key else min(natural[k], c.min_width) for k, c in enumerate(cols)}

    def least(ks: list[int]) -> int:  # narrowest the table can get: non-key columns cut to their min_width
        return 1 + sum(BORDER + floor[k] for k in ks)

    for k in sorted((k for k in shown if cols[k].drop), key=lambda k: -cols[k].drop):
        if least(shown) <= width:
            break
        shown.remove(k)
    if least(shown) > width:
        return None
    widths = {k: natural[k] for k in shown}
    excess = 1 + sum(BORDER + w for w in widths.values()) - width
    while excess > 0:  # cut the widest cuttable column by one, until the table fits
        k = max((k for k in shown if widths[k] > floor[k]), key=lambda k: widths[k])
        widths[k] -= 1
        excess -= 1
    return [(k, widths[k]) for k in shown]


def render(title: str, cols: Sequence[Col], rows: Sequence[Sequence[str]], width: int) -> list[Table | Text]:
    """What `print_table` prints at `width` (a table and maybe a note, or blocks)."""
    layout = fit(cols, rows, width)
    if layout is None:
        return _blocks(title, cols, rows, width)
    table = Table()
    for k, w in layout:  # explicit widths: rich's own squeezing would cut keys and crush narrow columns
        wrap = cols[k].wrap and not cols[k].key
        table.add_column(cols[k].name, no_wrap=not wrap, overflow="fold" if wrap else "ellipsis", width=w,
                         justify=cols[k].justify)  # type: ignore[arg-type]
    for row in rows:
        table.add_row(*(Text(row[k]) for k, _ in layout))
    out: list[Table | Text] = [Text(title, style="bold", no_wrap=True), table]  # a title may hold a run name
    dropped = [c.name for k, c in enumerate(cols) if k not in dict(layout)]
    if dropped:
        out.append(Text(f"(not shown at {width} columns: {', '.join(dropped)}; a wider terminal, or COLUMNS=200 "
                        "when piping, shows them)", style="dim"))
    return out


def _blocks(title: str, cols: Sequence[Col], rows: Sequence[Sequence[str]], width: int) -> list[Table | Text]:
    first = next((k for k, c in enumerate(cols) if c.key), 0)
    lines = [Text(title, style="bold")]
    for row in rows:
        lines.append(Text(row[first], style="bold", no_wrap=True))  # a key is never folded, even past the width
        for k, c in enumerate(cols):
            if k != first:
                text = textwrap.fill(f"{c.name}: {row[k]}", width=max(width, 20), initial_indent="  ",
                                     subsequent_indent="    ", break_long_words=False, break_on_hyphens=False)
                lines.extend(Text(line, no_wrap=True) for line in text.splitlines())
    return lines


def print_table(title: str, cols: Sequence[Col], rows: Sequence[Sequence[str]], console: Console | None = None) -> None:
    """Print rows (strings, one per column) by the rules of this module at the console's width."""
    console = console or Console()
    for part in render(title, cols, rows, console.width):
        console.print(part, soft_wrap=isinstance(part, Text) and part.no_wrap is True)
