"""Quiet Hugging Face loading, shared by the policy, the tiny model and the judge back-ends."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def quiet_hf() -> Iterator[None]:
    """Hide transformers' per-file progress bars (saving a checkpoint every iteration would print one each)."""
    from transformers.utils import logging as hf_logging

    was = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was:
            hf_logging.enable_progress_bar()
