"""Commands of this part of credo, added to the root `credo` app by `register`."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this part's commands to the root app."""
