"""Shared helpers of the fault-injection tests (marker ``faults``): SIGKILL a subprocess at random
points and run it again until it finishes, and a pickle payload that proves code execution."""
from __future__ import annotations

import random
import signal
import subprocess
import time
from typing import Callable


def kill_and_rerun(launch: Callable[[], subprocess.Popen], duration: float, restart: Callable[[], None], *,
                   kills: int = 3, seed: int = 0, lo: float = 0.1, hi: float = 0.8, attempts: int = 16) -> int:
    """Launch, SIGKILL after ``U(lo, hi) * duration`` seconds, and launch again (the rerun resumes)
    until ``kills`` kills have landed and an unkilled run finished; a run that finished before its
    kill landed is thrown away (``restart`` clears its output) so that every kill hits real work.
    Returns the number of kills; fails the test if a run exits other than by the kill or never ends."""
    rng = random.Random(seed)
    landed = 0
    for _ in range(attempts):
        proc = launch()
        if landed < kills:
            time.sleep(rng.uniform(lo, hi) * duration)
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                landed += 1
        _, err = proc.communicate(timeout=300)
        if proc.returncode == 0 and landed >= kills:
            return landed
        if proc.returncode == 0:
            restart()
            continue
        assert proc.returncode == -signal.SIGKILL, err
    raise AssertionError(f"the run did not finish after {attempts} launches ({landed} kills)")


class Touch:
    """Unpickling this calls ``Path.touch(marker)``: proof of code execution if it ever runs."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):  # noqa: ANN204
        import pathlib

        return (pathlib.Path.touch, (pathlib.Path(self.marker),))
