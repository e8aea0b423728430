"""Job state on disk: ``<results>/suite/jobs/<key>.json``, one small JSON file per job.

A job's state is written by whoever touches it (the planner when it submits, the worker when it
starts and ends) with an atomic replace, so a reader (``mertbench suite --status`` on a login node)
never sees half a file. Fields: ``key``, ``model``, ``task``, ``task_version``, ``protocol``,
``seeds``, ``status`` (``submitted`` | ``running`` | ``done`` | ``failed``), ``result`` (results
JSON path), ``log``, ``error``, ``executor``, ``slurm_job_id``, ``host``, ``pid``, ``started``,
``finished`` (UTC ISO times), ``wall_s``, ``mertbench_version``.
"""
from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from typing import Any

from mertbench.errors import ResultsError
from mertbench.io import atomic_write_json

STATUSES = ("submitted", "running", "done", "failed")


def suite_dir(results_dir: Path) -> Path:
    """``<results>/suite``: job states, logs and the last submission."""
    return Path(results_dir) / "suite"


def state_path(results_dir: Path, key: str) -> Path:
    return suite_dir(results_dir) / "jobs" / f"{key}.json"


def log_path(results_dir: Path, key: str) -> Path:
    return suite_dir(results_dir) / "logs" / f"{key}.log"


def now() -> str:
    """UTC time, ISO 8601 to the second."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def read_state(results_dir: Path, key: str) -> dict[str, Any] | None:
    """The job's state, or None when it has none. A damaged file is an error naming it and the fix."""
    path = state_path(results_dir, key)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ResultsError(f"{path}: damaged suite job state ({exc}); delete it and the job runs again") from exc
    if not isinstance(data, dict) or data.get("status") not in STATUSES:
        raise ResultsError(f"{path}: not a suite job state (status must be one of {STATUSES}); "
                           "delete it and the job runs again")
    return data


def write_state(results_dir: Path, key: str, **fields: Any) -> dict[str, Any]:
    """Merge ``fields`` into the job's state and write it atomically; returns the new state."""
    state = read_state(results_dir, key) or {"key": key}
    state.update(fields)
    atomic_write_json(state_path(results_dir, key), state)
    return state


def this_process() -> dict[str, Any]:
    """``host`` and ``pid`` of the caller, recorded by a worker that starts a job."""
    return {"host": socket.gethostname(), "pid": os.getpid()}


def process_alive(state: dict[str, Any]) -> bool | None:
    """Whether the process a ``running`` state names is alive: True/False on this host, None when
    the job runs elsewhere (another node) and this machine cannot tell."""
    if state.get("host") != socket.gethostname() or not isinstance(state.get("pid"), int):
        return None
    try:
        os.kill(int(state["pid"]), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def write_submission(results_dir: Path, record: dict[str, Any]) -> Path:
    """``<results>/suite/last.json``: the jobs of the last submission, for ``--status``."""
    path = suite_dir(results_dir) / "last.json"
    atomic_write_json(path, record)
    return path


def read_submission(results_dir: Path) -> dict[str, Any] | None:
    path = suite_dir(results_dir) / "last.json"
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ResultsError(f"{path}: damaged suite record ({exc}); delete it (job states are kept)") from exc
    return data if isinstance(data, dict) else None
