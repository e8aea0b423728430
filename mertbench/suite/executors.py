"""Where suite jobs run: ``local`` worker processes, or ``slurm`` through submitit.

Both call :func:`mertbench.suite.worker.run_job` once per job, and that function records each
job's state on disk; the executors only decide where and how many at once.

- :class:`LocalExecutor`: a pool of ``spawn`` worker processes. On a machine with GPUs, one worker
  per GPU (each sees only its own through ``CUDA_VISIBLE_DEVICES``), the CPU cores shared between
  them; otherwise one worker per core with one torch thread each (what is fastest for the many
  small probes of a suite). A worker that dies (killed, out of memory) fails the job it held and is
  replaced; the other jobs run on.
- :class:`SlurmExecutor`: one Slurm array through ``submitit.AutoExecutor`` (partition, GPUs per
  job, CPUs, memory, time limit, array parallelism); ``cluster="local"`` is submitit's local
  executor, which is how CI tests this path without a cluster. Submission returns at once; the
  suite can be watched with ``mertbench suite --status`` from any machine that sees the results
  folder, and the same ``mertbench suite`` command resumes it. submitit pickles the job's arguments
  (our own job dicts, written by us into the submission folder) to hand them to the Slurm task.
"""
from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from mertbench.errors import MertbenchError
from mertbench.suite.plan import SuiteJob
from mertbench.suite.state import now, read_state, write_state
from mertbench.suite.worker import run_job

OnDone = Callable[[SuiteJob, dict[str, Any]], None]


def _gpu_count() -> int:
    try:
        import torch

        return int(torch.cuda.device_count()) if torch.cuda.is_available() else 0
    except Exception:  # noqa: BLE001 - no usable CUDA
        return 0


def _init_worker(gpu_queue: Any) -> None:
    """Pool initializer: take one GPU id (if any) before torch initialises CUDA in this process."""
    if gpu_queue is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(gpu_queue.get())


@dataclass
class LocalExecutor:
    """Worker processes on this machine.

    Attributes:
        workers: processes at once (0: one per GPU, else one per core).
        device: ``cpu``/``cuda`` (None: ``cuda`` when a GPU is present).
        threads: torch threads per job (0: the cores divided among the workers).
    """

    workers: int = 0
    device: str | None = None
    threads: int = 0

    name = "local"

    def resolved(self) -> tuple[int, str, int]:
        """(workers, device, threads per job) on this machine."""
        from mertbench.threads import cpu_cores

        gpus = _gpu_count()
        device = self.device or ("cuda" if gpus else "cpu")
        if device.startswith("cuda") and gpus == 0:
            raise MertbenchError("--device cuda: no GPU is visible to this process (CUDA_VISIBLE_DEVICES, drivers)")
        workers = self.workers or (gpus if device.startswith("cuda") else cpu_cores())
        threads = self.threads or max(1, cpu_cores() // max(1, workers))
        return max(1, workers), device, threads

    def run(self, jobs: list[SuiteJob], results_dir: Path, on_done: OnDone,
            on_start: Callable[[SuiteJob], None] | None = None) -> None:
        """Run ``jobs`` (in order, ``workers`` at a time); ``on_done(job, state)`` as each ends."""
        workers, device, threads = self.resolved()
        for job in jobs:
            write_state(results_dir, job.key, status="submitted", submitted=now(), executor="local",
                        **asdict(job))
        queue = list(jobs)
        ctx = multiprocessing.get_context("spawn")
        while queue:
            gpu_queue = None
            if device.startswith("cuda"):
                gpu_queue = ctx.Queue()
                for i in range(_gpu_count()):
                    gpu_queue.put(i)
                workers = min(workers, _gpu_count())
            n = min(workers, len(queue))
            broken: list[SuiteJob] = []
            with ProcessPoolExecutor(max_workers=n, mp_context=ctx, initializer=_init_worker,
                                     initargs=(gpu_queue,)) as pool:
                futures: dict[Future, SuiteJob] = {}
                for job in queue:
                    futures[pool.submit(run_job, asdict(job), str(results_dir), device, threads, "local")] = job
                    if on_start is not None:
                        on_start(job)
                queue = []
                pending = set(futures)
                try:
                    while pending:
                        finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                        for fut in finished:
                            job = futures[fut]
                            try:
                                on_done(job, fut.result())
                            except BrokenProcessPool:
                                broken.append(job)
                except BaseException:
                    for fut in pending:
                        fut.cancel()
                    raise
            if broken:
                queue = self._after_crash(broken, results_dir, on_done)

    @staticmethod
    def _after_crash(jobs: list[SuiteJob], results_dir: Path, on_done: OnDone) -> list[SuiteJob]:
        """A worker died: the jobs it was running fail (named in their state); the rest run again."""
        again = []
        for job in jobs:
            state = read_state(results_dir, job.key) or {}
            if state.get("status") == "running":
                on_done(job, write_state(results_dir, job.key, status="failed", finished=now(),
                                         error="the worker process died while running this job "
                                               "(killed, or out of memory?)"))
            elif state.get("status") in ("done", "failed"):
                on_done(job, state)
            else:
                again.append(job)
        return again


@dataclass
class SlurmExecutor:
    """One Slurm job array through submitit.

    Attributes:
        folder: submitit's folder (job scripts, pickled arguments, Slurm stdout/stderr), on a
            filesystem the nodes share. partition: Slurm partition (None: the cluster's default).
        gpus_per_job / cpus_per_job / mem_gb / time_min: resources of each array task.
        array_parallelism: array tasks running at once. cluster: ``slurm``, or ``local`` (submitit's
            local executor: subprocesses on this machine; used by the tests).
        extra: further ``slurm_*`` parameters for ``update_parameters`` (e.g. ``{"slurm_account": "x"}``).
    """

    folder: Path
    partition: str | None = None
    gpus_per_job: int = 0
    cpus_per_job: int = 4
    mem_gb: float | None = None
    time_min: int = 240
    array_parallelism: int = 32
    cluster: str = "slurm"
    extra: dict[str, Any] | None = None

    name = "slurm"

    def _executor(self) -> Any:
        try:
            import submitit
        except ImportError as exc:
            raise MertbenchError("--executor slurm needs submitit: pip install 'mertbench[slurm]'") from exc
        ex = submitit.AutoExecutor(folder=str(self.folder), cluster=self.cluster)
        params: dict[str, Any] = {"timeout_min": int(self.time_min), "gpus_per_node": int(self.gpus_per_job),
                                  "cpus_per_task": int(self.cpus_per_job), "tasks_per_node": 1, "nodes": 1,
                                  "name": "mertbench-suite"}
        if self.mem_gb:
            params["mem_gb"] = float(self.mem_gb)
        if self.cluster == "slurm":
            params["slurm_array_parallelism"] = int(self.array_parallelism)
            if self.partition:
                params["slurm_partition"] = self.partition
            params.update(self.extra or {})
        ex.update_parameters(**params)
        return ex

    def submit(self, jobs: list[SuiteJob], results_dir: Path) -> list[Any]:
        """Submit ``jobs`` as one array; records each job's id in its state and returns submitit's jobs."""
        if not jobs:
            return []
        ex = self._executor()
        device = "cuda" if self.gpus_per_job > 0 else "cpu"
        n = len(jobs)
        submitted = ex.map_array(run_job, [asdict(j) for j in jobs], [str(results_dir)] * n, [device] * n,
                                 [max(1, int(self.cpus_per_job))] * n, ["slurm"] * n)
        for job, sub in zip(jobs, submitted):
            state = read_state(results_dir, job.key) or {}
            if state.get("status") in ("running", "done", "failed") and state.get("slurm_job_id") == str(sub.job_id):
                continue  # the job already started (submitit's local executor starts at once)
            write_state(results_dir, job.key, status="submitted", submitted=now(), executor="slurm",
                        slurm_job_id=str(sub.job_id), slurm_folder=str(self.folder), **asdict(job))
        return list(submitted)


def wait_for(jobs: list[SuiteJob], results_dir: Path, on_done: OnDone, poll_s: float = 5.0,
             timeout_s: float | None = None, handles: list[Any] | None = None) -> list[SuiteJob]:
    """Poll the jobs' states until each is done or failed (``on_done`` once per job); returns the
    jobs still unfinished when ``timeout_s`` ran out. ``handles`` (submitit jobs, same order) let a
    Slurm task that died without a word (cancelled, timed out, node failure) count as failed."""
    left = {j.key: (j, (handles or [None] * len(jobs))[i]) for i, j in enumerate(jobs)}
    t0 = time.monotonic()
    while left:
        for key in list(left):
            job, handle = left[key]
            state = read_state(results_dir, key) or {}
            if state.get("status") in ("done", "failed"):
                on_done(job, state)
                del left[key]
            elif handle is not None and _handle_finished(handle):
                time.sleep(0.5)  # the worker's last write may be landing
                state = read_state(results_dir, key) or {}
                if state.get("status") not in ("done", "failed"):
                    state = write_state(results_dir, key, status="failed", finished=now(),
                                        error=f"the scheduler's job {handle.job_id} ended without a result "
                                              f"(state {getattr(handle, 'state', '?')}); see {handle.paths.stderr}")
                on_done(job, state)
                del left[key]
        if not left or (timeout_s is not None and time.monotonic() - t0 > timeout_s):
            break
        time.sleep(poll_s)
    return [job for job, _ in left.values()]


def _handle_finished(handle: Any) -> bool:
    try:
        return bool(handle.done())
    except Exception:  # noqa: BLE001 - scheduler not reachable: rely on the state files
        return False
