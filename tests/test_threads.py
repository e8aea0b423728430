"""The CPU thread policy: how busy the machine is, measured now (not the lagging load average)."""
from __future__ import annotations

import subprocess
import sys
import time

import pytest

from mertbench import threads


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/stat is Linux-only")
def test_spinning_processes_make_the_machine_busy_and_the_cache_expires(monkeypatch):
    cores = threads.cpu_cores()
    spin = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(cores)]
    try:
        time.sleep(0.5)
        threads._BUSY_CACHE.clear()
        assert threads.busy_cores() >= cores - 0.25
        assert threads.machine_busy() and threads.worker_threads() == 1
    finally:
        for p in spin:
            p.kill()
            p.wait()
    # cached for 5 s: the same answer right after the spinners stopped ...
    assert threads.machine_busy()
    # ... and a fresh sample once the cache is stale
    threads._BUSY_CACHE["at"] -= 10.0
    stale = threads._BUSY_CACHE["at"]
    threads.busy_cores()
    assert threads._BUSY_CACHE["at"] > stale + 5.0
