"""Exact gradients of a batch-level loss through per-step model outputs, computed in memory-bounded chunks.

SPA's loss couples all steps of an episode (sum of contributions vs outcome) and OPRL's couples all steps
of two trajectories (DPO on summed log-ratios), so a big batch cannot simply be split. Both losses depend
on the model only through one scalar per step, so: (1) compute every scalar without a graph, (2) take the
loss's gradient with respect to those scalars, (3) re-run each chunk with a graph and back-propagate
`scalars * upstream_grad`. The parameters receive exactly the full-batch gradient; peak memory is one chunk.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

import torch

T = TypeVar("T")


def per_item(fn: Callable[[Sequence[T]], torch.Tensor], items: Sequence[T], chunk: int) -> torch.Tensor:
    """`fn` applied to `items` chunk by chunk without gradients, concatenated (one scalar per item)."""
    with torch.no_grad():
        return torch.cat([fn(items[i:i + chunk]).float() for i in range(0, len(items), chunk)])


def backward_through(fn: Callable[[Sequence[T]], torch.Tensor], items: Sequence[T], chunk: int,
                     loss_of: Callable[[torch.Tensor], torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Back-propagate `loss_of(fn(items))` into `fn`'s parameters in chunks; returns (loss, per-item values).

    Both returned tensors are detached. When everything fits in one chunk this is a single ordinary pass.
    """
    if len(items) <= chunk:
        values = fn(items).float()
        loss = loss_of(values)
        if loss.requires_grad:
            loss.backward()
        return loss.detach(), values.detach()
    values = per_item(fn, items, chunk)
    leaf = values.clone().requires_grad_(True)
    loss = loss_of(leaf)
    if not loss.requires_grad:  # the loss does not involve the items at all
        return loss.detach(), values
    loss.backward()
    upstream = leaf.grad
    for i in range(0, len(items), chunk):
        part = fn(items[i:i + chunk]).float()
        (part * upstream[i:i + len(part)]).sum().backward()
    return loss.detach(), values
