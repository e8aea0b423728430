"""CPU thread policy shared by extraction and probe training.

On a small CPU machine, extra intra-op threads mostly wait for each other when the cores are
already busy (other processes, or our own decoding threads): measured here, extracting a
rendered task took 15 s with one torch thread and 126 s with two on a loaded 2-core machine.
"""
from __future__ import annotations

import contextlib
import os
from typing import Iterator

import torch


def cpu_cores() -> int:
    """Cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - macOS / Windows
        return max(1, os.cpu_count() or 1)


def machine_busy() -> bool:
    """True when the 1-minute load average already reaches the number of cores."""
    try:
        return os.getloadavg()[0] >= cpu_cores()
    except OSError:  # pragma: no cover - platforms without getloadavg
        return False


def worker_threads(reserved: int = 0) -> int:
    """Intra-op threads for CPU work that shares the machine with ``reserved`` busy threads of ours:
    one on a busy machine, else the cores left over (at least one)."""
    return 1 if machine_busy() else max(1, cpu_cores() - reserved)


@contextlib.contextmanager
def cpu_threads(n: int | None) -> Iterator[None]:
    """Temporarily use ``n`` torch intra-op threads (None: leave as is)."""
    if n is None or n == torch.get_num_threads():
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)
