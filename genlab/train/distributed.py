"""DDP plumbing for :func:`genlab.train.fit`: join the process group torchrun prepared, wrap modules.

Launch with ``torchrun --nproc_per_node=N script.py``; ``fit`` notices (``WORLD_SIZE`` and
``RANK`` are set) and each rank trains on its shard of every global batch.

Developed in course/07_gpu_training (lecture 07).
"""

from __future__ import annotations

import os
from typing import Any

import torch

__all__ = ["barrier", "launched_by_torchrun", "leave", "mean_over_ranks", "setup_distributed", "wrap_ddp"]


def launched_by_torchrun() -> bool:
    """True when the environment says several processes run this script (torchrun sets these)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and "RANK" in os.environ


def setup_distributed(device: torch.device | None) -> tuple[int, int, torch.device, bool]:
    """Join (or create) the process group; returns rank, world size, device, whether we created it."""
    import torch.distributed as dist

    created = False
    if not dist.is_initialized():
        if "MASTER_ADDR" not in os.environ and "TORCHELASTIC_RUN_ID" not in os.environ:
            raise ValueError("distributed=True needs several processes: launch the script with "
                             "`torchrun --nproc_per_node=N script.py` (or init the process group yourself).")
        use_cuda = torch.cuda.is_available() and (device is None or torch.device(device).type == "cuda")
        backend = "nccl" if use_cuda else "gloo"
        dist.init_process_group(backend=backend)
        created = True
    rank, world = dist.get_rank(), dist.get_world_size()
    if device is None:
        if torch.cuda.is_available() and dist.get_backend() == "nccl":
            local = int(os.environ.get("LOCAL_RANK", rank % torch.cuda.device_count()))
            device = torch.device("cuda", local)
        else:
            device = torch.device("cpu")
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    return rank, world, device, created



def wrap_ddp(task: Any, device: torch.device) -> None:
    """Put a DDP wrapper around every trainable module of ``task`` (``task.net(name)`` returns it)."""
    from torch.nn.parallel import DistributedDataParallel as DDP

    for name, m in task.modules.items():
        if any(p.requires_grad for p in m.parameters()):
            ids = [device.index] if device.type == "cuda" else None
            task.wrappers[name] = DDP(m, device_ids=ids)


def mean_over_ranks(table: torch.Tensor, world_size: int) -> torch.Tensor:
    """The mean of ``table`` over all ranks (itself without DDP)."""
    if world_size <= 1:
        return table
    import torch.distributed as dist

    dist.all_reduce(table, op=dist.ReduceOp.SUM)
    return table / world_size


def barrier(world_size: int) -> None:
    """Wait for every rank (nobody runs ahead of the checkpoint); a no-op without DDP."""
    if world_size > 1:
        import torch.distributed as dist

        dist.barrier()


def leave(created_group: bool) -> None:
    """Destroy the process group if :func:`setup_distributed` created it."""
    if created_group:
        import torch.distributed as dist

        dist.destroy_process_group()
