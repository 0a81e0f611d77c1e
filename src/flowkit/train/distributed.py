"""Process-group set-up for ``torchrun``: the same ``train`` call runs on one process or many.

``torchrun --nproc_per_node=N script.py`` starts ``N`` processes with ``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK`` and the rendezvous address in their
environment. [`setup`][flowkit.train.distributed.setup] initializes
``torch.distributed`` from them (NCCL on CUDA, gloo on the CPU) unless the
caller already did, and picks each process's device (``cuda:LOCAL_RANK``).
A group it creates stays up for later ``train`` calls in the same process and
is destroyed when the process exits.
"""

import atexit
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    """Where this process stands in the job.

    Attributes:
        rank: this process's rank, ``0`` when not distributed.
        world_size: number of processes, ``1`` when not distributed.
        device: the device this process trains on.
        owns_group: whether ``setup`` created the process group.
    """

    rank: int
    world_size: int
    device: torch.device
    owns_group: bool = False

    @property
    def distributed(self) -> bool:
        """More than one process."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that writes files and shows progress."""
        return self.rank == 0


def pick_device(requested: str | None, local_rank: int = 0) -> torch.device:
    """``requested`` as a device; ``None`` means ``cuda:local_rank`` when CUDA is available, else the CPU."""
    if requested is None:
        return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    device = torch.device(requested)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError(f"device {requested!r} was requested but CUDA is not available")
        if device.index is None:
            device = torch.device(f"cuda:{local_rank}")
    return device


def setup(requested_device: str | None) -> DistInfo:
    """Join the process group that ``torchrun`` describes, if any, and pick this process's device."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if dist.is_available() and dist.is_initialized():
        device = pick_device(requested_device, local_rank)
        owns = False
    elif world > 1:
        if not dist.is_available():
            raise RuntimeError("WORLD_SIZE > 1 but this torch build has no torch.distributed")
        device = pick_device(requested_device, local_rank)
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
        atexit.register(_destroy_group)
        owns = True
    else:
        return DistInfo(rank=0, world_size=1, device=pick_device(requested_device, local_rank))
    if device.type == "cuda":
        torch.cuda.set_device(device)
    return DistInfo(rank=dist.get_rank(), world_size=dist.get_world_size(), device=device, owns_group=owns)


def _destroy_group() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()
