"""CPU thread policy shared by extraction and probe training.

On a small CPU machine, extra intra-op threads mostly wait for each other when the cores are
already busy (other processes, or our own decoding threads): measured here, extracting a
rendered task took 15 s with one torch thread and 126 s with two on a loaded 2-core machine.
"""
from __future__ import annotations

import contextlib
import os
import time
from typing import Iterator

import torch


def cpu_cores() -> int:
    """Cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - macOS / Windows
        return max(1, os.cpu_count() or 1)


_BUSY_CACHE: dict[str, float] = {}


def _proc_stat_busy() -> tuple[float, float] | None:
    """``(busy, total)`` jiffies of all CPUs from ``/proc/stat`` (None where it does not exist)."""
    try:
        with open("/proc/stat", encoding="ascii") as fh:
            fields = [float(x) for x in fh.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


def busy_cores(window_s: float = 0.2) -> float:
    """Cores busy right now: CPU time used by all processes over ``window_s`` (``/proc/stat``), or the
    1-minute load average where that file does not exist. Cached for 5 s."""
    now = time.monotonic()
    if now - _BUSY_CACHE.get("at", -1e9) < 5.0:
        return _BUSY_CACHE["value"]
    a = _proc_stat_busy()
    if a is not None:
        time.sleep(window_s)
        b = _proc_stat_busy()
        total = (b[1] - a[1]) if b else 0.0
        value = (b[0] - a[0]) / total * (os.cpu_count() or 1) if b and total > 0 else 0.0
    else:  # pragma: no cover - macOS / Windows
        try:
            value = os.getloadavg()[0]
        except OSError:
            value = 0.0
    _BUSY_CACHE.update(at=time.monotonic(), value=value)
    return value


def machine_busy() -> bool:
    """True when other work already keeps (nearly) every core of this process busy.

    Measured over a short window rather than with the 1-minute load average, which lags: right after
    our own rendering finished it still reports the cores as busy."""
    return busy_cores() >= cpu_cores() - 0.25


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
