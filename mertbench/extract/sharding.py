"""Sharding extraction across processes (torchrun): each rank takes a contiguous slice of chunks.

Ranks write their chunks into the same cache folder; rank 0 waits until every chunk of a split exists
and merges them into one array, so all ranks together produce exactly the cache one process would.
No process group is needed: the file system is the only shared state.
"""
from __future__ import annotations

import os


def dist_info(rank: int | None = None, world_size: int | None = None) -> tuple[int, int]:
    """``(rank, world_size)``: the arguments if given, else torchrun's ``RANK`` / ``WORLD_SIZE``."""
    if world_size is None:
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if rank is None:
        rank = int(os.environ.get("RANK", "0")) if world_size > 1 else 0
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"invalid rank {rank} for world size {world_size}")
    return rank, world_size


def local_device(device: str) -> str:
    """``"cuda"`` becomes ``"cuda:<LOCAL_RANK>"`` under torchrun; anything else is unchanged."""
    if device == "cuda" and "LOCAL_RANK" in os.environ:
        return f"cuda:{int(os.environ['LOCAL_RANK'])}"
    return device


def chunk_ranges(n_items: int, chunk_size: int) -> list[tuple[int, int]]:
    """``[(start, stop), ...]`` covering ``range(n_items)`` in chunks of ``chunk_size``."""
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    return [(s, min(s + chunk_size, n_items)) for s in range(0, n_items, chunk_size)]


def rank_slice(n_chunks: int, rank: int, world_size: int) -> range:
    """The contiguous chunk indices of ``rank`` (sizes differ by at most one)."""
    return range(rank * n_chunks // world_size, (rank + 1) * n_chunks // world_size)
