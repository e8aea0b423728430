"""Run one suite job: extraction (into the shared feature cache) and the all-layer probe.

:func:`run_job` is what every executor calls, in its own process (a local worker, a Slurm task).
It records ``running`` with its host and pid, sends the job's output (stdout, stderr, warnings) to
``<results>/suite/logs/<key>.log``, and records ``done`` with the results path, or ``failed`` with
the error; it never raises for a failing job, so one failure does not stop the others.
"""
from __future__ import annotations

import contextlib
import os
import sys
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mertbench._version import __version__
from mertbench.suite.state import log_path, now, this_process, write_state


@contextlib.contextmanager
def _output_to(path: Path) -> Iterator[None]:
    """Redirect file descriptors 1 and 2 (and ``sys.stdout``/``sys.stderr``) to ``path`` (appending)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(path, "a", buffering=1, encoding="utf-8") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        old = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = log
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stdout, sys.stderr = old
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def run_job(job: dict[str, Any], results_dir: str, device: str = "cpu", threads: int = 1,
            executor: str = "local") -> dict[str, Any]:
    """Run the job described by ``job`` (a :class:`~mertbench.suite.plan.SuiteJob` as a dict).

    Args:
        job: the job's fields (``SuiteJob.__dict__``). results_dir: results root (shared).
        device: ``cpu`` or ``cuda`` (``cuda`` when the worker was given a GPU).
        threads: torch CPU threads for extraction and training.
        executor: recorded in the state (``local`` or ``slurm``).

    Returns:
        the job's final state (``status`` ``done`` or ``failed``).
    """
    from mertbench.suite.plan import SuiteJob

    spec = SuiteJob(**job)
    root = Path(results_dir)
    log = log_path(root, spec.key)
    fields: dict[str, Any] = {**job, "log": str(log), "executor": executor, "mertbench_version": __version__}
    slurm_id = os.environ.get("SLURM_JOB_ID")
    if slurm_id:
        array = os.environ.get("SLURM_ARRAY_JOB_ID")
        task_id = os.environ.get("SLURM_ARRAY_TASK_ID")
        fields["slurm_job_id"] = f"{array}_{task_id}" if array and task_id else slurm_id
    write_state(root, spec.key, status="running", started=now(), error=None, **fields, **this_process())
    t0 = time.perf_counter()
    try:
        with _output_to(log):
            print(f"[{now()}] mertbench {__version__}: {spec.label} (protocol {spec.protocol}, "
                  f"{spec.seeds} seeds, layer {spec.layer}, device {device}, {threads} threads)", flush=True)
            path = _probe(spec, root, device, threads)
            print(f"[{now()}] done: {path}", flush=True)
    except BaseException as exc:  # noqa: BLE001 - recorded; KeyboardInterrupt/SystemExit re-raised below
        with contextlib.suppress(Exception), open(log, "a", encoding="utf-8") as f:
            f.write(traceback.format_exc())
        message = f"{type(exc).__name__}: {exc}".strip()
        state = write_state(root, spec.key, status="failed", finished=now(), error=message[:2000],
                            wall_s=round(time.perf_counter() - t0, 3))
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        return state
    return write_state(root, spec.key, status="done", finished=now(), result=str(path),
                       wall_s=round(time.perf_counter() - t0, 3))


def _probe(spec: Any, root: Path, device: str, threads: int) -> Path:
    import secrets

    import torch

    from mertbench.extract.runner import ExtractOptions
    from mertbench.probe import run_probe
    from mertbench.results import run_folder

    # the results file is named before it is written: a worker killed after writing it and before
    # recording "done" leaves a state whose pending result the next plan adopts (not redone)
    dest = run_folder(spec.model, spec.task, root) / (time.strftime("%Y%m%dT%H%M%S", time.gmtime())
                                                       + f"-{secrets.token_hex(3)}.json")
    write_state(root, spec.key, result_pending=str(dest))

    torch.set_num_threads(max(1, int(threads)))
    # on a GPU the job's CPUs decode audio for it (MP3 decoding outweighs the forward pass); on a CPU
    # worker they run the model
    decoders = max(1, int(threads)) if device.startswith("cuda") else 1
    options = ExtractOptions(workers=decoders, threads=max(1, int(threads)))
    if spec.deform:
        return _robustness(spec, root, dest, device, threads, options)
    _, path = run_probe(spec.model, spec.task, layer=spec.layer, seeds=int(spec.seeds), out=root, path=dest,
                        device=device, progress=False, protocol=spec.protocol, threads=max(1, int(threads)),
                        extract_options=options)
    assert path is not None
    return path


def _robustness(spec: Any, root: Path, dest: Path, device: str, threads: int, options: Any) -> Path:
    """A job with deformations: ``mertbench robustness`` (its file under ``<root>/robustness/``), and
    its clean result written as the job's probe result (the same numbers ``probe`` gives)."""
    from mertbench.deform import get_deformation
    from mertbench.errors import SpecError
    from mertbench.results import write_result
    from mertbench.robustness import run_robustness

    defs = []
    for item in spec.deform:
        name, _, digest = str(item).partition("@")
        d = get_deformation(name)
        if digest and d.hash != digest:
            raise SpecError(f"deformation {name} changed since the suite was planned (hash {d.hash}, planned "
                            f"{digest}): plan the suite again")
        defs.append(d)
    result, path = run_robustness(spec.model, spec.task, defs, layer=spec.layer, seeds=int(spec.seeds), out=root,
                                  device=device, progress=False, protocol=spec.protocol, threads=max(1, int(threads)),
                                  extract_options=options)
    print(f"robustness: {path}", flush=True)
    return write_result(result.clean, dest)
