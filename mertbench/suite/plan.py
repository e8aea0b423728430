"""Plan a suite: the (model, task) jobs, what is already done, what each costs.

A job is one model on one task: feature extraction (once, into the shared feature cache) and then
one all-layer probe pass (every layer and the weighted sum, every seed and learning rate, side by
side). Its key hashes what changes its results: the model, the task and its version, the protocol
and its version, the seeds and the layer argument. A job is

- ``done``: its state says done, its results file exists, and that file was written by this
  mertbench version;
- ``stale``: done, but by another mertbench version (the file is kept; the job runs again unless
  ``reuse_stale``);
- ``failed``: the last attempt failed (it runs again; its log is kept);
- ``running``: a worker holds it (alive on this host, or on another node: not resubmitted);
- ``todo``: anything else.

Tasks whose data is missing are left out of the plan and listed with the reason (``strict``: an
error instead). Unknown models and tasks are errors before anything runs.
"""
from __future__ import annotations

import difflib
import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mertbench._version import __version__
from mertbench.errors import DataError, MertbenchError, ModelError, SpecError
from mertbench.paths import results_root
from mertbench.provenance import config_hash
from mertbench.suite.state import process_alive, read_state

#: task selections besides a comma list of names
SELECTIONS = ("official", "render", "all")

#: relative cost of a job by task type (probe heads per frame vs per clip), for ordering and estimates
TYPE_COST = {"separation": 12.0, "beat": 4.0}


@dataclass(frozen=True)
class SuiteJob:
    """One model on one task.

    Attributes:
        model: the model as given (a registered name, a plugin string) or a checkpoint folder's
            absolute path.
        task, task_version, task_type: the task.
        protocol, protocol_version: the evaluation protocol.
        seeds: probe seeds (0..seeds-1). layer: the probe's layer argument (``all``).
        deform: deformations (names) the job also scores (``mertbench robustness``); empty: a probe job.
    """

    model: str
    task: str
    task_version: str
    task_type: str
    protocol: str
    protocol_version: str
    seeds: int
    layer: str = "all"
    deform: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """Hash of everything above: the name of the job's state, log and cache entry (a probe job
        without deformations hashes as before the field existed, so its done state stays valid)."""
        fields = asdict(self)
        if not fields["deform"]:
            fields.pop("deform")
        else:
            fields["deform"] = list(fields["deform"])
        return config_hash(fields, length=16)

    @property
    def label(self) -> str:
        """``model x task`` for messages (a folder by its name)."""
        return f"{_short(self.model)} x {self.task}"


@dataclass
class JobCost:
    """What a job costs: audio (hours, all splits), encoder forward passes (windows), expected wall
    time in seconds on one worker (audio seconds x (the model's calibrated seconds per audio second
    + the task's measured decoding time per audio second) + a probe allowance by task type; None
    when the model could not be calibrated), and the decoding rate (audio s per wall s)."""

    audio_h: float
    forward_passes: int
    expected_s: float | None = None
    decode_rate: float | None = None


@dataclass
class PlannedJob:
    """A job with its status (module docstring), state, and cost."""

    job: SuiteJob
    status: str
    cost: JobCost
    state: dict[str, Any] | None = None

    @property
    def pending(self) -> bool:
        """Whether running the suite runs this job."""
        return self.status in ("todo", "failed", "stale")


@dataclass
class SuitePlan:
    """Every job of a suite, the tasks left out, and the calibration per model."""

    jobs: list[PlannedJob]
    missing: list[tuple[str, str]] = field(default_factory=list)  # (task, reason)
    calibration: dict[str, dict[str, Any]] = field(default_factory=dict)  # model -> {rtf, error}
    results_dir: Path = Path("results")

    def pending(self) -> list[PlannedJob]:
        """Jobs a run executes, most expensive first."""
        todo = [p for p in self.jobs if p.pending]
        return sorted(todo, key=lambda p: -_weight(p))

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for p in self.jobs:
            out[p.status] = out.get(p.status, 0) + 1
        return out

    def table(self) -> list[dict[str, Any]]:
        """One row per job (for ``--dry-run`` and ``--json``)."""
        return [{"model": p.job.model, "task": p.job.task, "task_version": p.job.task_version,
                 "protocol": p.job.protocol, "seeds": p.job.seeds, "status": p.status, "key": p.job.key,
                 "audio_h": round(p.cost.audio_h, 3), "forward_passes": p.cost.forward_passes,
                 "expected_s": None if p.cost.expected_s is None else round(p.cost.expected_s, 1),
                 "decode_x_realtime": None if p.cost.decode_rate is None else round(p.cost.decode_rate, 1),
                 "result": (p.state or {}).get("result"), "log": (p.state or {}).get("log"),
                 "note": _note(p)} for p in self.jobs]

    def totals(self) -> dict[str, Any]:
        todo = self.pending()
        known = [p.cost.expected_s for p in todo if p.cost.expected_s is not None]
        return {"jobs": len(self.jobs), "to_run": len(todo),
                "audio_h_to_run": round(sum(p.cost.audio_h for p in todo), 3),
                "forward_passes_to_run": sum(p.cost.forward_passes for p in todo),
                "expected_s_to_run": round(sum(known), 1) if known else None,
                "uncalibrated_jobs": len(todo) - len(known),
                "missing_tasks": [t for t, _ in self.missing]}


def _weight(p: PlannedJob) -> float:
    return TYPE_COST.get(p.job.task_type, 1.0) * max(p.cost.audio_h, 1e-6)


def _note(p: PlannedJob) -> str:
    s = p.state or {}
    if p.status == "stale":
        return f"written by mertbench {s.get('mertbench_version')} (now {__version__}); kept, runs again"
    if p.status == "failed":
        return f"failed: {s.get('error', '?')} (log {s.get('log')})"
    if p.status == "running":
        where = f"slurm job {s['slurm_job_id']}" if s.get("slurm_job_id") else f"{s.get('host')} pid {s.get('pid')}"
        return f"running on {where} since {s.get('started')}"
    return ""


def _short(model: str) -> str:
    return Path(model).name if os.sep in model and Path(model).exists() else model


def check_model(spec: str) -> str:
    """``spec`` as a job names it: a registered name or plugin string as given, a checkpoint folder
    as its absolute path. Unknown names are a ModelError with close matches (nothing is loaded)."""
    from mertbench.models.registry import ENCODERS, RENAMED

    path = Path(spec).expanduser()
    if path.is_dir():
        return str(path.resolve())
    names = ENCODERS.names()
    if spec in names or spec.startswith("hf:"):
        return spec
    if spec in RENAMED:
        raise ModelError(f"the model {spec!r} is now called {RENAMED[spec]!r}; use {RENAMED[spec]!r}")
    if ":" in spec and not path.exists():
        module = spec.partition(":")[0]
        import importlib.util

        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            raise ModelError(f"model {spec!r}: plugin module {module!r} is not importable; is it installed?")
        return spec
    close = difflib.get_close_matches(spec, names, n=3)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    raise ModelError(f"unknown model {spec!r}: not a registered name, an existing checkpoint folder, "
                     f"or a 'module:factory' plugin string.{hint} See `mertbench models list`.")


def select_tasks(tasks: str | list[str]) -> list[str]:
    """Task names of a selection: ``official``, ``render``, ``all`` (both) or names (comma list).
    Unknown names are a SpecError with close matches."""
    from mertbench.tasks.registry import get_task, list_tasks

    items = [t.strip() for t in (tasks.split(",") if isinstance(tasks, str) else tasks) if t.strip()]
    if not items:
        raise SpecError("--tasks is empty; give official, render, all or task names")
    names: list[str] = []
    for item in items:
        if item in SELECTIONS:
            suites = ("official", "render") if item == "all" else (item,)
            names += [t.name for s in suites for t in list_tasks(s)]
        else:
            names.append(get_task(item).name)  # raises with close matches
    return list(dict.fromkeys(names))


def decode_rate(task: Any, ds: Any, files: int = 3, max_s: float = 60.0) -> float | None:
    """Audio seconds decoded (read, down-mixed, resampled to 24 kHz) per wall second, on the first
    ``files`` readable training files of the task (at most ``max_s`` seconds of each); None if none
    could be read."""
    import time

    from mertbench.audio import load_audio

    audio_s = wall = 0.0
    for ex in [e for split in ds.splits.values() for e in split][: files * 4]:
        if files <= 0:
            break
        dur = ex.duration_s
        try:
            t0 = time.perf_counter()
            wav, _ = load_audio(str(ex.path), 24000, start_s=ex.start_s, duration_s=min(dur or max_s, max_s))
            wall += time.perf_counter() - t0
        except Exception:  # noqa: BLE001 - unreadable files are extraction's to report
            continue
        audio_s += wav.shape[-1] / 24000  # mono [N]
        files -= 1
    return audio_s / wall if wall > 0 and audio_s > 0 else None


def _audio_cost(task: Any) -> tuple[float, int, float | None]:
    """(audio hours over all splits, encoder windows, decode rate) of a task's data."""
    import soundfile as sf

    ds = task.load()
    window = task.spec.audio.window_s or task.spec.audio.crop_s
    seconds, windows = 0.0, 0
    for examples in ds.splits.values():
        for ex in examples:
            dur = ex.duration_s
            if dur is None:
                try:
                    dur = max(0.0, float(sf.info(str(ex.path)).duration) - float(ex.start_s))
                except Exception:  # noqa: BLE001 - an unreadable file is counted by extraction, not here
                    dur = 0.0
            if task.spec.audio.crop_s:
                dur = min(dur, float(task.spec.audio.crop_s))
            seconds += dur
            windows += max(1, math.ceil(dur / window)) if window else 1
    return seconds / 3600.0, windows, decode_rate(task, ds)


def calibrate(model: str, seconds: float = 10.0) -> dict[str, Any]:
    """Real-time factor of the model's forward pass on this machine: wall seconds per audio second
    (one warm-up call, then the best of three on ``seconds`` of noise). ``{"rtf": x}``, or
    ``{"error": "..."}`` when the model cannot be loaded here."""
    import time

    import torch

    from mertbench.models import load_model

    try:
        enc = load_model(model)
    except MertbenchError as exc:
        return {"error": str(exc)}
    except Exception as exc:  # noqa: BLE001 - a plugin's own failure is reported, not raised
        return {"error": f"{type(exc).__name__}: {exc}"}
    n = int(seconds * enc.sample_rate)
    wav = torch.randn(1, n, generator=torch.Generator().manual_seed(0)) * 0.1
    best = math.inf
    with torch.inference_mode():
        enc(wav[:, : max(enc.min_samples, n // 10)])
        for _ in range(3):
            t0 = time.perf_counter()
            enc(wav)
            best = min(best, time.perf_counter() - t0)
    return {"rtf": best / seconds, "threads": torch.get_num_threads()}


#: probe wall time per job, seconds, as a multiple of the extraction estimate's floor (a rough prior
#: from the rendered suite on 2 CPU cores: about 20 s per clip-level all-layer probe)
PROBE_FLOOR_S = 20.0


def _job_state(results_dir: Path, job: SuiteJob, reuse_stale: bool) -> tuple[str, dict[str, Any] | None]:
    state = read_state(results_dir, job.key)
    if state is None:
        return "todo", None
    status = state.get("status")
    if status == "done":
        result = state.get("result")
        if not result or not Path(result).is_file():
            return "todo", state
        version = state.get("mertbench_version") or _result_version(Path(result))
        if version != __version__ and not reuse_stale:
            return "stale", state
        return "done", state
    if status == "failed":
        return "failed", state
    if status in ("running", "submitted"):
        alive = process_alive(state) if status == "running" else None
        if alive is False:
            adopted = _adopt_pending(results_dir, job, state)
            return ("done", adopted) if adopted is not None else ("todo", state)  # killed worker on this host
        if state.get("executor") == "slurm" or alive:
            return "running", state
        return "todo", state  # a local submission that never started (interrupted suite)
    return "todo", state


def _adopt_pending(results_dir: Path, job: SuiteJob, state: dict[str, Any]) -> dict[str, Any] | None:
    """A worker killed after writing its results file and before recording ``done``: when the
    pending file is there and is a valid result of this job, record the job done."""
    from mertbench.results import load_result
    from mertbench.suite.state import now, write_state

    pending = state.get("result_pending")
    if not pending or not Path(pending).is_file():
        return None
    try:
        result = load_result(pending)
    except MertbenchError:
        return None
    if result.task != job.task or result.seeds != list(range(job.seeds)):
        return None
    return write_state(results_dir, job.key, status="done", result=str(pending), finished=now(),
                       note="adopted: its worker was killed after writing the results file")


def _result_version(path: Path) -> str | None:
    try:
        return json.loads(path.read_text()).get("provenance", {}).get("mertbench_version")
    except (OSError, ValueError):
        return None


def plan_suite(models: list[str], tasks: str | list[str] = "render", *, seeds: int = 3,
               protocol: str | None = None, layer: str = "all", results_dir: str | Path | None = None,
               strict: bool = False, calibrate_models: bool = True, reuse_stale: bool = False,
               deform: list[str] | None = None) -> SuitePlan:
    """Plan ``models`` x ``tasks`` (see the module docstring).

    Raises:
        ModelError / SpecError: an unknown model, task or protocol (before anything runs).
        DataError: with ``strict``, a task whose data is missing.

    ``deform``: deformation names / families / ``all`` (``mertbench robustness --deform``): every job
    then also scores them (the robustness dimension; its key includes the resolved deformation names
    and hashes, so a changed deformation runs again).
    """
    from mertbench.tasks.protocol import DEFAULT_PROTOCOL, get_protocol
    from mertbench.tasks.registry import get_task

    if not models:
        raise ModelError("give at least one --model")
    if int(seeds) < 1:
        raise SpecError("--seeds must be at least 1")
    model_ids = list(dict.fromkeys(check_model(m) for m in models))
    deform_ids: tuple[str, ...] = ()
    if deform:
        from mertbench.robustness import resolve_deformations

        deform_ids = tuple(f"{d.name}@{d.hash}" for d in resolve_deformations(deform))
    proto = get_protocol(protocol or DEFAULT_PROTOCOL)
    out = Path(results_dir) if results_dir is not None else results_root()
    names = select_tasks(tasks)
    missing: list[tuple[str, str]] = []
    costs: dict[str, tuple[float, int, float | None]] = {}
    loaded = []
    for name in names:
        task = get_task(name)
        try:
            costs[name] = _audio_cost(task)
        except DataError as exc:
            if strict:
                raise
            missing.append((name, str(exc)))
            continue
        loaded.append(task)
    calibration: dict[str, dict[str, Any]] = {}
    if calibrate_models:
        calibration = {m: calibrate(m) for m in model_ids}
    jobs: list[PlannedJob] = []
    for model in model_ids:
        rtf = calibration.get(model, {}).get("rtf")
        for task in loaded:
            job = SuiteJob(model=model, task=task.name, task_version=str(task.spec.version),
                           task_type=str(task.spec.type), protocol=proto.name,
                           protocol_version=str(proto.version), seeds=int(seeds), layer=layer, deform=deform_ids)
            audio_h, windows, rate = costs[task.name]
            expected = None
            if rtf is not None:
                per_audio_s = float(rtf) + (1.0 / rate if rate else 0.0)
                expected = (audio_h * 3600.0 * per_audio_s
                            + PROBE_FLOOR_S * TYPE_COST.get(job.task_type, 1.0) * int(seeds) / 3)
            status, state = _job_state(out, job, reuse_stale)
            jobs.append(PlannedJob(job, status, JobCost(audio_h, windows, expected, rate), state))
    return SuitePlan(jobs=jobs, missing=missing, calibration=calibration, results_dir=out)
