"""Distributed training under torchrun, and a do-nothing stand-in for a single process.

``torchrun`` describes the job in environment variables (``WORLD_SIZE``, ``RANK``,
``LOCAL_RANK``, ...). With more than one process, :meth:`Distributed.from_env` joins the
process group (NCCL on CUDA machines, Gloo on CPUs) and :func:`wrap_step_fn` runs the step
function inside :class:`~torch.nn.parallel.DistributedDataParallel`, which averages gradients
over the processes during ``backward``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from glare_core.device import select_device
from glare_core.train.data import Batch

StepFn = Callable[[Batch, int], dict[str, torch.Tensor]]


@dataclass(frozen=True)
class Distributed:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    #: whether this object started the process group (and so ends it)
    owns_group: bool = False

    @property
    def active(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @staticmethod
    def is_main_process() -> bool:
        """Whether this process is rank 0 (or alone), read from torchrun's environment before
        or after joining its group: for what one process says for all (the log, the summary)."""
        return int(os.environ.get("RANK", "0")) == 0

    @classmethod
    def from_env(cls) -> Distributed:
        """Join the process group torchrun describes in the environment, if there is one."""
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
        if world_size <= 1:
            return cls()
        owns_group = not dist.is_initialized()
        if owns_group:
            dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        return cls(dist.get_rank(), local_rank, world_size, owns_group)

    def device(self, name: str) -> torch.device:
        device = select_device(name)
        if self.active and device.type == "cuda":
            torch.cuda.set_device(self.local_rank)
            return torch.device("cuda", self.local_rank)
        return device

    def agree(self, flags: list[bool], device: torch.device) -> list[bool]:
        """Each flag is true on every rank when it is true on any rank."""
        if not self.active:
            return flags
        votes = torch.tensor(flags, dtype=torch.int32, device=device)
        dist.all_reduce(votes, op=dist.ReduceOp.MAX)
        return [bool(vote) for vote in votes.tolist()]

    def gather(self, value: Any) -> list[Any]:
        if not self.active:
            return [value]
        values: list[Any] = [None] * self.world_size
        dist.all_gather_object(values, value)
        return values

    def close(self) -> None:
        if self.owns_group and dist.is_initialized():
            # the main rank still writes its checkpoint and log after the last collective;
            # leaving together keeps one rank from tearing down gloo's connections under the
            # other (a CPU run's second rank once aborted on the way out)
            dist.barrier()
            dist.destroy_process_group()


class _StepModule(nn.Module):
    """Runs the step function as ``forward`` so DDP sees the parameters it uses."""

    def __init__(self, module: nn.Module, step_fn: StepFn) -> None:
        super().__init__()
        self.module = module
        self.step_fn = step_fn

    def forward(self, batch: Batch, step: int) -> dict[str, torch.Tensor]:
        return self.step_fn(batch, step)


def wrap_step_fn(
    module: nn.Module,
    step_fn: StepFn,
    distributed: Distributed,
    device: torch.device,
    find_unused_parameters: bool = False,
) -> StepFn:
    """``step_fn`` itself for one process; for several, a DDP module that calls it."""
    if not distributed.active:
        return step_fn
    device_ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(
        _StepModule(module, step_fn),
        device_ids=device_ids,
        find_unused_parameters=find_unused_parameters,
    )
