"""torch.distributed plumbing: process group from torchrun's environment, DDP / FSDP wrapping.

``torchrun --nproc_per_node K -m mertbench pretrain ...`` sets ``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``; :func:`setup` joins the group with NCCL on
GPUs and gloo on CPUs. Without those variables training runs in one process.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import os
from dataclasses import dataclass
from typing import Any, Iterator

import torch
import torch.distributed as torch_dist
from torch import nn


@dataclass
class DistInfo:
    """This process's place in the job."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    owns_group: bool = False  # True when setup() created the process group (and must destroy it)
    strategy: str = "none"  # none | ddp | fsdp

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1


def resolve_device(spec: str, local_rank: int = 0) -> torch.device:
    """``auto`` -> ``cuda:LOCAL_RANK`` when CUDA is available, else ``cpu``."""
    if spec == "auto":
        return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    dev = torch.device(spec)
    if dev.type == "cuda" and dev.index is None:
        dev = torch.device(f"cuda:{local_rank}")
    return dev


def setup(device: str = "auto", timeout_minutes: int = 360) -> DistInfo:
    """Join the torchrun process group if launched by torchrun; pick the device."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    dev = resolve_device(device, local_rank)
    info = DistInfo(rank=rank, world=world, local_rank=local_rank, device=dev)
    if world > 1:
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        if not torch_dist.is_initialized():
            backend = "nccl" if dev.type == "cuda" else "gloo"
            torch_dist.init_process_group(backend=backend, timeout=_dt.timedelta(minutes=timeout_minutes))
            info.owns_group = True
        info.rank, info.world = torch_dist.get_rank(), torch_dist.get_world_size()
    return info


def cleanup(info: DistInfo) -> None:
    """Destroy the process group if :func:`setup` created it."""
    if info.owns_group and torch_dist.is_initialized():
        torch_dist.destroy_process_group()


def all_reduce_sum(values: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Sum a tensor over processes (identity in one process). float64 on CPU for gloo, else on device."""
    if not info.distributed:
        return values
    t = values.to(info.device if info.device.type == "cuda" else "cpu")
    torch_dist.all_reduce(t, op=torch_dist.ReduceOp.SUM)
    return t.to(values.device)


def barrier(info: DistInfo) -> None:
    if info.distributed:
        torch_dist.barrier()


def wrap(model: nn.Module, info: DistInfo, strategy: str) -> nn.Module:
    """DDP (``find_unused_parameters`` as MERT, for layerdrop) or FSDP2 (each transformer layer, then the root)."""
    if not info.distributed:
        info.strategy = "none"
        return model
    if strategy == "fsdp":
        from torch.distributed.fsdp import fully_shard

        for layer in model.encoder.encoder.layers:
            fully_shard(layer)
        fully_shard(model)
        info.strategy = "fsdp"
        return model
    from torch.nn.parallel import DistributedDataParallel as DDP

    info.strategy = "ddp"
    ids = [info.device.index] if info.device.type == "cuda" else None
    return DDP(model, device_ids=ids, find_unused_parameters=True)


def unwrap(model: nn.Module) -> nn.Module:
    """The plain module inside a DDP wrapper (FSDP2 modules are their own module)."""
    return model.module if hasattr(model, "module") and not hasattr(model, "encoder") else model


@contextlib.contextmanager
def no_grad_sync(model: nn.Module, info: DistInfo, skip_sync: bool) -> Iterator[None]:
    """Inside, backward passes accumulate gradients locally (accumulation steps but the last)."""
    if not skip_sync or not info.distributed:
        yield
        return
    if info.strategy == "ddp":
        with model.no_sync():
            yield
        return
    if info.strategy == "fsdp":
        model.set_requires_gradient_sync(False)
        try:
            yield
        finally:
            model.set_requires_gradient_sync(True)
        return
    yield


def full_state_dicts(model: nn.Module, optimizer: torch.optim.Optimizer, info: DistInfo) -> tuple[dict[str, Any], dict[str, Any]]:
    """Unsharded model and optimizer state dicts (collective under FSDP; CPU tensors)."""
    if info.strategy == "fsdp":
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_state_dict

        return get_state_dict(model, optimizer, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    return unwrap(model).state_dict(), optimizer.state_dict()


def load_full_state_dicts(model: nn.Module, optimizer: torch.optim.Optimizer, model_sd: dict[str, Any],
                          optim_sd: dict[str, Any], info: DistInfo) -> None:
    """Inverse of :func:`full_state_dicts`."""
    if info.strategy == "fsdp":
        from torch.distributed.checkpoint.state_dict import StateDictOptions, set_state_dict

        set_state_dict(model, optimizer, model_state_dict=model_sd, optim_state_dict=optim_sd,
                       options=StateDictOptions(full_state_dict=True, broadcast_from_rank0=False))
        return
    unwrap(model).load_state_dict(model_sd)
    optimizer.load_state_dict(optim_sd)
