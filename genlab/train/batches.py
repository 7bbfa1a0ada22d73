"""Batches for the training loop: what a loader yields, in-memory datasets, DDP shards.

In-memory data (``x`` or ``(x, y)`` tensors) is shuffled each epoch by a generator whose
state goes into every checkpoint, so resume continues with exactly the next batch order.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import torch

__all__ = ["as_batch", "batches_of", "epoch_batches", "in_memory"]


def as_batch(batch: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Normalise what a loader yields into ``(x, y_or_None)``."""
    if isinstance(batch, torch.Tensor):
        return batch, None
    if isinstance(batch, Mapping):
        return batch["x"], batch.get("y")
    if isinstance(batch, (list, tuple)):
        if len(batch) == 1:
            return batch[0], None
        return batch[0], batch[1]
    raise TypeError(f"a batch must be a tensor x, a tuple (x, y) or a dict with 'x'; got {type(batch).__name__}.")


def batches_of(data: Any, batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
    """Fixed-order batches over an in-memory dataset or a loader (used by ``evaluate``)."""
    if isinstance(data, torch.Tensor) or (isinstance(data, tuple) and data and isinstance(data[0], torch.Tensor)):
        x, y = as_batch(data)
        for i in range(0, len(x), batch_size):
            yield x[i:i + batch_size], (None if y is None else y[i:i + batch_size])
    else:
        for batch in data:
            yield as_batch(batch)



def in_memory(data: Any) -> tuple[torch.Tensor, torch.Tensor | None] | None:
    """``(x, y_or_None)`` when ``data`` is an in-memory dataset, else ``None`` (a loader)."""
    if isinstance(data, torch.Tensor):
        return data, None
    if isinstance(data, (tuple, list)) and 1 <= len(data) <= 2 and all(
            isinstance(t, torch.Tensor) or t is None for t in data):
        x = data[0]
        y = data[1] if len(data) == 2 else None
        if y is not None and len(y) != len(x):
            raise ValueError(f"x has {len(x)} items but y has {len(y)}; they must match.")
        return x, y
    return None



def epoch_batches(data: Any, memory: tuple | None, batch_size: int, shuffle: bool, drop_last: bool,
                   generator: torch.Generator, rank: int, world: int
                   ) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
    """One epoch of batches; under DDP each rank gets its contiguous shard of every global batch."""
    if memory is None:
        for batch in data:
            x, y = as_batch(batch)
            if world > 1:
                x = torch.tensor_split(x, world)[rank]
                y = None if y is None else torch.tensor_split(y, world)[rank]
            yield x, y
        return
    x, y = memory
    n = len(x)
    # The permutation comes from a generator whose state goes into every checkpoint.
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    stop = (n // batch_size) * batch_size if drop_last else n
    for i in range(0, stop, batch_size):
        idx = order[i:i + batch_size]
        if world > 1:
            idx = torch.tensor_split(idx, world)[rank]
            if len(idx) == 0:
                continue
        idx = idx.to(x.device)
        yield x[idx], (None if y is None else y[idx.to(y.device)])

