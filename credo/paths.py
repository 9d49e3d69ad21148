"""Where credo keeps what it builds once and reuses: the tiny model, generated games and levels, search indexes."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """`$CREDO_CACHE`, else `~/.cache/credo`: one root for every cache, so one variable moves them all."""
    return Path(os.environ.get("CREDO_CACHE") or Path.home() / ".cache" / "credo").expanduser()
